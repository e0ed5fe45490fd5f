"""Exactly-once MLflow runs for Tune trials.

Ray's stock integrations open a second run when a trial is restored and leave runs RUNNING.
Here every run carries a ``run_key`` tag (sweep + cell + config hash); a trial that starts,
restarts or resumes looks its key up and continues that run. Per-epoch metrics already logged
(a crash between logging and checkpointing) are not logged again, so steps never duplicate.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

_MAX_PARAM_LEN = 6000
_BATCH = 100  # log_batch accepts at most 100 params per call


class TrackedRun:
    """One MLflow run identified by a stable key, continued rather than duplicated."""

    def __init__(self, client: MlflowClient, run_id: str, last_step: int,
                 was_finished: bool = False) -> None:
        self.client = client
        self.run_id = run_id
        self.last_step = last_step
        self.was_finished = was_finished

    @staticmethod
    def find_status(tracking_uri: str, experiment_id: str, key: str) -> str | None:
        """Status of the run tagged ``run_key=key`` (None when there is none); changes nothing."""
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.run_key = '{key}'", max_results=1
        )
        return found[0].info.status if found else None

    @classmethod
    def open(
        cls,
        tracking_uri: str,
        experiment_id: str,
        key: str,
        run_name: str,
        tags: Mapping[str, str],
        parent_run_id: str | None = None,
        step_metric: str = "val_acc",
    ) -> TrackedRun:
        """Find the run tagged ``run_key=key`` in the experiment, or create it; mark it RUNNING."""
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.run_key = '{key}'", max_results=2
        )
        if found:
            run = found[0]
            run_id = run.info.run_id
            attempts = int(run.data.tags.get("attempts", "1")) + 1
            client.set_tag(run_id, "attempts", str(attempts))
            if "error" in run.data.tags:
                # A retry continues the failed attempt's run; keep its error for the record.
                client.set_tag(run_id, "last_error", run.data.tags["error"])
                client.delete_tag(run_id, "error")
            if "interrupted" in run.data.tags:
                client.delete_tag(run_id, "interrupted")  # the interrupted sweep is resumed
            client.update_run(run_id, status="RUNNING")
            history = client.get_metric_history(run_id, step_metric)
            last = max((m.step for m in history), default=-1)
            return cls(client, run_id, last, was_finished=run.info.status == "FINISHED")
        all_tags = {**tags, "run_key": key, MLFLOW_RUN_NAME: run_name, "attempts": "1"}
        if parent_run_id:
            all_tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
        return cls(client, run.info.run_id, -1)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (idempotent: MLflow accepts re-logging an identical value)."""
        items = [Param(k, _param_str(v)) for k, v in params.items()]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + _BATCH])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags in one call."""
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_epoch(self, step: int, metrics: Mapping[str, float],
                  series: Sequence[tuple[int, Mapping[str, float]]] = ()) -> None:
        """Per-epoch metrics at ``step``, and ``series`` (metrics at steps of their own, such
        as mask updates at optimizer steps, that belong to this epoch); all skipped when that
        epoch is already recorded."""
        if step <= self.last_step:
            return
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, at) for at, values in series
                 for k, v in values.items() if v is not None]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + _BATCH])
        self.log_metrics(metrics, step)
        self.last_step = step

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Log several metrics in one batch (SQLite serializes writers: batch, don't loop)."""
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        self.client.log_batch(self.run_id, metrics=items)

    def log_dict_artifact(self, data: Any, name: str) -> None:
        """Write ``data`` as JSON and log it as an artifact named ``name``."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
            self.client.log_artifact(self.run_id, str(path))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file or directory."""
        p = Path(path)
        if p.is_dir():
            self.client.log_artifacts(self.run_id, str(p), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(p), artifact_path)

    def finish(self) -> None:
        """End the run FINISHED."""
        self.client.set_terminated(self.run_id, status="FINISHED")

    def fail(self, error: BaseException | str) -> None:
        """End the run FAILED with the error text as a tag (a retry flips it back to RUNNING).
        A stop (Tune's SystemExit, Ctrl-C) is tagged ``interrupted``: resume continues it."""
        stopped = isinstance(error, SystemExit | KeyboardInterrupt)
        if stopped:
            # Tune ends a function trainable with SystemExit when it stops the trial.
            text = "stopped by Ray Tune before finishing (sweep interrupted or trial stopped)"
        else:
            text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        try:
            self.set_tags({"error": text[:5000], **({"interrupted": "true"} if stopped else {})})
        finally:
            self.client.set_terminated(self.run_id, status="FAILED")


def _param_str(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)
    return text[:_MAX_PARAM_LEN]
