"""Progress lines from trials to the driver's terminal, between Tune's per-epoch results.

Tune shows the driver what a trial reports at the end of each epoch. What happens before the
first epoch (loading data, pruning) and within an epoch that takes minutes would be silence; a
trial posts such lines to a small named actor the driver owns, and the driver prints them. A
trial outside a sweep (no board) posts nothing."""

from __future__ import annotations

import time
from typing import Any

NAMESPACE = "prune-sweep"  # explicit: Tune's trial actors do not share the driver's namespace


def board_name(sweep: str) -> str:
    """The board of one sweep (sweeps sharing a cluster keep their lines apart)."""
    return f"progress/{sweep}"


class ProgressBoard:
    """Holds posted lines until the driver drains them (a Ray actor, zero CPUs)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str, str]] = []
        self.done: list[str] = []

    def set_finished(self, labels: list[str]) -> None:
        """Labels of trials that finished before this driver started (a resumed sweep)."""
        self.done = list(labels)

    def finished(self) -> list[str]:
        """What ``set_finished`` was given."""
        return self.done

    def post(self, label: str, text: str) -> None:
        """Keep one line of ``label``'s progress (the newest 1,000 at most)."""
        self.lines.append((time.time(), label, text))
        del self.lines[:-1000]

    def drain(self) -> list[tuple[float, str, str]]:
        """Hand over and forget everything posted so far."""
        lines, self.lines = self.lines, []
        return lines


def start_board(sweep: str) -> Any:
    """The sweep's board, owned by the driver (found again when it exists)."""
    import ray

    actor = ray.remote(num_cpus=0, max_restarts=0)(ProgressBoard)
    return actor.options(name=board_name(sweep), namespace=NAMESPACE, get_if_exists=True,
                         lifetime="non_detached").remote()


def find_board(sweep: str) -> Any:
    """The sweep's board, or None (a plain Tune run, or the driver is gone)."""
    try:
        import ray

        if not ray.is_initialized():
            return None
        return ray.get_actor(board_name(sweep), namespace=NAMESPACE)
    except Exception:  # noqa: BLE001 - ValueError when there is none
        return None


def post_progress(sweep: str, label: str, text: str) -> None:
    """Post a line to the sweep's board when there is one; progress never fails a trial."""
    board = find_board(sweep)
    if board is not None:
        try:
            board.post.remote(label, text)
        except Exception:  # noqa: BLE001, S110 - a dying driver
            pass
