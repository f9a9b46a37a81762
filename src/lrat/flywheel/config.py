"""params.yaml `flywheel:`: its keys, defaults and value rules are `lrat.settings.Flywheel`; the one rule between
two of its keys is checked here, before a round starts."""

from __future__ import annotations

from lrat.settings import Flywheel


def check_flywheel(cfg: Flywheel) -> Flywheel:
    """An llm flywheel needs its endpoint and model; `agent: none` means callers outside lrat, so it only makes
    sense when the round collects what the service records."""
    if cfg.agent == "llm" and not (cfg.llm_url and cfg.llm_model):
        raise ValueError("flywheel.agent is 'llm': set flywheel.llm_url and flywheel.llm_model (an OpenAI-compatible "
                         "chat-completions endpoint and the model it serves)")
    if cfg.agent == "none" and cfg.collect != "service":
        raise ValueError("flywheel.agent is 'none' (no agent run by lrat): set flywheel.collect: service, so a round "
                         "collects what your agents' tagged calls to the service recorded")
    if cfg.agent == "llm" and cfg.collect == "service":
        raise ValueError("flywheel.collect: service with flywheel.agent: llm is not supported: `lrat agent` does not "
                         "tag its calls with a trajectory id (its snippets are document fetches too). Use agent: "
                         "simulated (the test caller) or none (your own agents call the service), or collect: agent")
    return cfg
