"""The sweep record: the resolved spec and where the sweep runs, written when it starts and read
by ``status``, ``resume``, ``analyze`` and ``measure``. It is kept twice: as
``<runs dir>/sweeps/<name>.json`` and in the sweep's parent run in MLflow (tags
``sweep_record.0``, ``sweep_record.1``, ... holding the JSON in pieces under MLflow's tag
size limit), so that a copied ``mlflow.db`` or a tracking server alone is enough to read a
sweep back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from search_spaces.loader import SpaceError, apply_mapping
from search_spaces.spec import SweepSpec
from tune_app.errors import UserError
from tune_app.paths import RunsLayout, git_sha

if TYPE_CHECKING:
    from mlflow import MlflowClient

RECORD_TAG = "sweep_record"
_PIECE = 7000  # characters per tag (MLflow keeps at most 8000)


def write_sweep_record(paths: RunsLayout, spec: SweepSpec, record: dict[str, Any],
                       client: MlflowClient | None = None, run_id: str | None = None) -> None:
    """Save what status/resume need to find this sweep again: the file (atomically) and, given
    a client, the parent run's tags."""
    text = json.dumps({"spec": spec.to_dict(), **record, "git_sha": git_sha()}, indent=2)
    path = paths.sweep_file(spec.name)
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(text)
    tmp.replace(path)
    if client is not None and run_id is not None:
        from mlflow.entities import RunTag

        pieces = [text[i:i + _PIECE] for i in range(0, len(text), _PIECE)]
        tags = [RunTag(f"{RECORD_TAG}.{i}", piece) for i, piece in enumerate(pieces)]
        client.log_batch(run_id, tags=[*tags, RunTag(f"{RECORD_TAG}.pieces", str(len(pieces)))])


def record_from_tags(tags: dict[str, str]) -> dict[str, Any] | None:
    """The sweep record kept in a parent run's tags, None when it has none (or not whole)."""
    try:
        n = int(tags[f"{RECORD_TAG}.pieces"])
        return json.loads("".join(tags[f"{RECORD_TAG}.{i}"] for i in range(n)))
    except (KeyError, ValueError):
        return None


def no_such_sweep(paths: RunsLayout, name: str, hint: str = "") -> UserError:
    """The error for a sweep without a record in this runs dir, listing the known ones."""
    known = sorted(p.stem for p in paths.sweeps_dir.glob("*.json")) \
        if paths.sweeps_dir.is_dir() else []
    return UserError(f"no sweep named {name!r} in {paths.runs_dir} "
                     f"(known: {', '.join(known) or 'none'}{hint})")


def read_sweep_record(paths: RunsLayout, name: str, tags: dict[str, str] | None = None
                      ) -> tuple[dict[str, Any], SweepSpec] | None:
    """(record, spec) of sweep ``name`` from its file, else from its parent run's ``tags``;
    None when neither holds it. An unusable record is a user error naming where it was."""
    path = paths.sweep_file(name)
    where = str(path)
    try:
        if path.is_file():
            record = json.loads(path.read_text())
        else:
            record = record_from_tags(tags or {})
            where = f"the MLflow parent run of sweep {name!r}"
            if record is None:
                return None
        spec = apply_mapping(SweepSpec(name=name), record["spec"])
    except (ValueError, KeyError, SpaceError) as exc:
        raise UserError(f"sweep record {where} is unusable: {exc}") from None
    return record, spec
