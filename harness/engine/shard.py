"""``--shard K/N``: a deterministic, balanced split of a run's tests into N shares.

Tests are grouped into units that must run together: every test of one pair (its quality tests, its
runtime tests, its learning curve) is one unit, the speed tests of one checkpoint another, any other
test its own. Units are assigned greedily, most expensive first, to the least loaded shard (longest
processing time first); then each checkpoint's speed unit goes to the least loaded shard that holds
one of its pairs, so the checkpoint is loaded where it is used. The cost of a unit is the measured
duration of its tests in earlier results (``--shard-costs``), else its number of tests. The same
tests and costs give the same plan on every machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from ..errors import HarnessError

_SPEC = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


class ShardError(HarnessError, ValueError):
    """A ``--shard`` value or costs file that cannot be used."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` → ``(2, 3)``; one line naming what was expected otherwise."""
    found = _SPEC.fullmatch(text.strip())
    if found is None or int(found.group(1)) > int(found.group(2)):
        raise ShardError(f"--shard {text}: expected K/N with 1 <= K <= N, e.g. --shard 2/3")
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True)
class ShardUnit:
    """One test and what it must run with: ``group`` is ``("pair", suite file, checkpoint, approach
    id)``, ``("speed", suite file, checkpoint)`` or ``("test", node id)``."""

    nodeid: str
    group: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """Shard index (1-based) of every group, with the digest every shard of the run shares."""

    count: int
    assignment: dict[tuple[str, ...], int]
    balanced_by: str  # "cost" or "count"
    digest: str

    def shard_of(self, unit: ShardUnit) -> int:
        return self.assignment[unit.group]


def plan(units: list[ShardUnit], count: int, costs: dict[str, float] | None = None) -> Plan:
    """Assign the groups of ``units`` to ``count`` shards; ``costs``: seconds per node id."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for unit in units:
        groups.setdefault(unit.group, []).append(unit.nodeid)
    known = [costs[n] for ids in groups.values() for n in ids if costs and n in costs]
    default = sum(known) / len(known) if known else 1.0  # a test not measured before: the mean one

    def cost(ids: list[str]) -> float:
        return sum(costs.get(n, default) for n in ids) if known else float(len(ids))

    load = [0.0] * count
    holders: dict[str, list[int]] = {}  # checkpoint → shards holding one of its pairs
    assignment: dict[tuple[str, ...], int] = {}

    def order(item) -> tuple:  # speed units last: they follow their checkpoint's pairs
        return item[0][0] == "speed", -cost(item[1]), item[0]

    for group, ids in sorted(groups.items(), key=order):
        candidates = range(count)
        if group[0] == "speed" and holders.get(group[2]):
            candidates = holders[group[2]]
        chosen = min(candidates, key=lambda i: (load[i], i))
        load[chosen] += cost(ids)
        assignment[group] = chosen + 1
        if group[0] == "pair":
            holders.setdefault(group[2], []).append(chosen)
    text = json.dumps(sorted([list(group), shard] for group, shard in assignment.items()))
    digest = hashlib.sha256(f"{count}\n{text}".encode()).hexdigest()
    return Plan(count, assignment, "cost" if known else "count", digest)
