"""Dynamic sparse training's parts: drop and grow (``regrowth``), named here without torch so
that methods and parameter checks can refer to them.

``GROW_SCORES``: where connections regrow (``random``: uniformly among inactive positions,
SET and DSR; ``gradient``: the largest dense-gradient magnitudes, RigL). ``DROP_SCHEDULES``:
the fraction of a layer's active connections an update drops (``constant``: SET;
``cosine``: RigL's alpha / 2 (1 + cos(pi t / T_end))). Connections are always dropped by the
smallest magnitude (score ``magnitude``), as in all three papers."""

GROW_SCORES = ("random", "gradient")
DROP_SCHEDULES = ("constant", "cosine")
