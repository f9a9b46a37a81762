"""params.yaml as typed settings: ``load_settings(path)`` reads the file once; every section and its defaults are
declared in ``lrat.settings.sections``, the value rules in ``lrat.settings.rules``."""

from lrat.settings.load import ParamsError, load_settings, problems, read_yaml, settings_from
from lrat.settings.sections import (
    Agent,
    AgentRunner,
    Capture,
    Data,
    Encoding,
    Experiment,
    Flywheel,
    Index,
    Ingest,
    Mine,
    Promote,
    Registry,
    Retrieval,
    Scaling,
    Serve,
    ServeLimits,
    Settings,
    Split,
    Topk,
    Train,
    Validate,
    World,
)

__all__ = ["Agent", "AgentRunner", "Capture", "Data", "Encoding", "Experiment", "Flywheel", "Index", "Ingest", "Mine",
           "ParamsError", "Promote", "Registry", "Retrieval", "Scaling", "Serve", "ServeLimits", "Settings", "Split",
           "Topk", "Train", "Validate", "World", "load_settings", "problems", "read_yaml", "settings_from"]
