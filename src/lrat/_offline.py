"""No-telemetry switches, applied before any heavy library is imported.

Several libraries read these at import time, so they are set as early as the package is imported. ``setdefault``
keeps a user's explicit choice intact.

The Hugging Face switches (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``, ``HF_DATASETS_OFFLINE``) are deliberately
*not* here: set process-wide they would stop every program that imports lrat from reaching the Hub. lrat's default
path needs no network without them: local model folders load with ``local_files_only=True`` and models are saved
without a model card (whose generation asks the Hub about the base model). Tests set them in ``tests/conftest.py``.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "True",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
# Set by tests (tests/conftest.py), never by the package.
HUB_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def apply_offline_defaults() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
