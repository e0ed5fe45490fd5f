"""The sweep record ``<runs dir>/sweeps/<name>.json``: the resolved spec and where the sweep
runs, written when it starts and read by ``status`` and ``resume``."""

from __future__ import annotations

import json
from typing import Any

from search_spaces.loader import SpaceError, apply_mapping
from search_spaces.spec import SweepSpec
from tune_app.errors import UserError
from tune_app.paths import RunsLayout, git_sha


def write_sweep_record(paths: RunsLayout, spec: SweepSpec, record: dict[str, Any]) -> None:
    """Save what status/resume need to find this sweep again (atomically)."""
    path = paths.sweep_file(spec.name)
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps({"spec": spec.to_dict(), **record, "git_sha": git_sha()}, indent=2))
    tmp.replace(path)


def no_such_sweep(paths: RunsLayout, name: str, hint: str = "") -> UserError:
    """The error for a sweep without a record in this runs dir, listing the known ones."""
    known = sorted(p.stem for p in paths.sweeps_dir.glob("*.json")) \
        if paths.sweeps_dir.is_dir() else []
    return UserError(f"no sweep named {name!r} in {paths.runs_dir} "
                     f"(known: {', '.join(known) or 'none'}{hint})")


def read_sweep_record(paths: RunsLayout, name: str) -> tuple[dict[str, Any], SweepSpec] | None:
    """(record, spec) of sweep ``name``, None when it has no record; an unusable record is a
    user error naming the file."""
    path = paths.sweep_file(name)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        spec = apply_mapping(SweepSpec(name=name), record["spec"])
    except (ValueError, KeyError, SpaceError) as exc:
        raise UserError(f"sweep record {path} is unusable: {exc}") from None
    return record, spec
