"""The paired-comparison table (McNemar test, paired bootstrap of the difference): the suite's pairs
compared in the report's Comparisons section, and each checkpoint comparison's pairs."""

from __future__ import annotations

from ..results.model import Comparison
from .cells import MISSING, Cell, Table, interval, num, plain, title


def comparison_table(comparisons: list[Comparison]) -> Table | None:
    """One row per paired comparison (McNemar, paired bootstrap), or None without any."""
    if not comparisons:
        return None
    rows = []
    for c in comparisons:
        a, b = title(c.a.checkpoint, c.a.approach), title(c.b.checkpoint, c.b.approach)
        discordant = c.n_discordant
        rows.append(
            [
                plain(a),
                plain(b),
                plain(c.metric),
                num(c.a_value, ".3f"),
                num(c.b_value, ".3f"),
                num(c.difference, "+.3f"),
                Cell(interval(c.ci, "+.3f"), numeric=True),
                num(c.mcnemar_p, ".3g"),
                Cell(f"{discordant[0]} / {discordant[1]}" if len(discordant) == 2 else MISSING, numeric=True),
                num(c.n_examples, "d"),
                plain({"a": a, "b": b}.get(c.winner, "no significant difference")),
            ]
        )
    headers = [
        "A",
        "B",
        "metric",
        "A value",
        "B value",
        "A − B",
        "CI of A − B",
        "McNemar p",
        "discordant (A only / B only)",
        "texts",
        "winner",
    ]
    return Table(headers, rows, "comparisons")
