"""``prune-sweep spaces``: the named search spaces, or one of them fully resolved."""

from __future__ import annotations

import argparse

from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.options import SpacesOptions


def spaces_command(args: argparse.Namespace) -> int:
    """One line per named space; with ``--show NAME`` that space, resolved."""
    import search_spaces
    from search_spaces.loader import SpaceError

    opts = options_from(SpacesOptions, args)
    if opts.show:
        try:
            print(search_spaces.load(opts.show).describe())
        except SpaceError as exc:
            raise UserError(str(exc)) from None
        return 0
    print(f"{'space':15} {'methods':>7} {'sparsities':>10} {'seeds':>5} {'grid':>5} "
          f"{'trials':>6} {'dense':>5}  description")
    for name in search_spaces.space_names():
        s = search_spaces.load(name)
        print(f"{name:15} {len(s.methods):7} {len(s.sparsities):10} {len(s.seeds):5} "
              f"{len(s.cells()):5} {s.trial_count():6} {len(s.seeds):5}  {s.description}")
    return 0
