"""Loaded (via PYTHONPATH) only by the distributed resume test's launches: with LRAT_TEST_CRASH_AT_STEP=N every
process dies hard (os._exit, as on a lost node: no cleanup, no MLflow run end) when training step N ends."""

import os

if os.environ.get("LRAT_TEST_CRASH_AT_STEP"):
    from transformers.trainer_callback import CallbackHandler

    _step_end = CallbackHandler.on_step_end

    def _crash(self, args, state, control):  # type: ignore[no-untyped-def]
        control = _step_end(self, args, state, control)
        if state.global_step == int(os.environ["LRAT_TEST_CRASH_AT_STEP"]):
            os._exit(17)
        return control

    CallbackHandler.on_step_end = _crash
