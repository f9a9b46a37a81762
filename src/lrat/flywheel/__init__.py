"""The data flywheel (method §1, §7): serve the champion, let the agent answer fresh questions through it, mine,
validate, train a challenger, put it through the gate; round after round, resumable stage by stage."""
