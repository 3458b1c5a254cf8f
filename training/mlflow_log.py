"""TRL's training logs into the loop's MLflow run, beside the loop's own metrics.

The job's `mlflow` key names the run (`tracking_uri`, `run_id`) and a metric prefix per round
(`train_r2`), so every round's curves (`train_r2/loss`, `train_r2/learning_rate`, ...) sit in
the same run. Not `report_to="mlflow"`: transformers' callback ends the run when training
ends (the loop is still going) and logs the TrainingArguments as params, which MLflow refuses
to change in round 2 (`output_dir` differs), so the second round's training would fail.
"""

from __future__ import annotations

import sys
import time
from typing import Any


def mlflow_callback(target: dict[str, Any]) -> Any:
    """A `TrainerCallback` logging every numeric value of each trainer log to `target`'s run."""
    import logging

    from transformers import TrainerCallback

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(target["tracking_uri"])
    run_id, prefix = target["run_id"], target["prefix"]

    class MlflowLog(TrainerCallback):
        failed = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs or self.failed:
                return
            now = int(time.time() * 1000)
            metrics = [Metric(f"{prefix}/{k}", float(v), now, state.global_step)
                       for k, v in logs.items() if isinstance(v, (int, float))]
            try:
                client.log_batch(run_id, metrics=metrics)
            except Exception as e:  # noqa: BLE001 - tracking must not fail the training
                self.failed = True
                print(f"MLflow logging failed, training goes on without it: {e}", file=sys.stderr)

    return MlflowLog()
