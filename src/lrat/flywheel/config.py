"""params.yaml `flywheel:`: its keys, defaults and value rules are `lrat.settings.Flywheel`; the one rule between
two of its keys is checked here, before a round starts."""

from __future__ import annotations

from lrat.settings import Flywheel


def check_flywheel(cfg: Flywheel) -> Flywheel:
    """An llm flywheel needs its endpoint and model."""
    if cfg.agent == "llm" and not (cfg.llm_url and cfg.llm_model):
        raise ValueError("flywheel.agent is 'llm': set flywheel.llm_url and flywheel.llm_model (an OpenAI-compatible "
                         "chat-completions endpoint and the model it serves)")
    return cfg
