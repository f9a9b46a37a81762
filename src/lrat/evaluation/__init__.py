"""`lrat evaluate`: offline IR metrics of held-out questions (ranx's definitions, paired significance test vs
base; on the evidence and, when there are some, the gold qrels), TREC runs in and out (`lrat.evaluation.trec`),
and the simulated agent's success and evidence recall with each retriever (method §7)."""

from lrat.evaluation.agent import evaluate_agents
from lrat.evaluation.offline import evaluate_offline, evaluate_runs

__all__ = ["evaluate_agents", "evaluate_offline", "evaluate_runs"]
