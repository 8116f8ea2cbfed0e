"""The report's checkpoint comparison: the same approaches on several checkpoints, side by side.

Shown when a run evaluated at least one approach that runs a model on two or more checkpoints.
:func:`checkpoint_view` builds, from the suite document only:

- ``answer``: one line for the summary, "which checkpoint, at what cost": the checkpoint of the best
  pair, its margin over the best other checkpoint with the same approach and whether the paired test
  finds it significant, and its throughput and size against that checkpoint's; where the margin is not
  significant, the cheaper checkpoint is named as the one to take;
- ``table``: accuracy (with its CI), F1, texts/s, parameters and weight size of every such pair,
  grouped by approach, the best accuracy of each approach marked;
- ``comparisons``: each two checkpoints with the same approach, paired on the same examples
  (McNemar's exact test and a paired bootstrap of the accuracy difference, as ``harness compare``:
  the run's comparisons, computed from the predictions when the document was built);
- ``bubbles``: the book's chapter-8 plot across checkpoints and approaches: accuracy against the
  checkpoint's texts/s, bubble area proportional to its parameters.

Throughput is the checkpoint's from the performance records, at one setting measured for every
checkpoint (inference first, then extraction; the first device and dtype measured): a pair's own
predict step is not comparable across approaches.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..results import SuiteDocument
from ..results.model import Comparison, PairRecord, TimingRecord
from .cells import MISSING, Cell, Table, interval, num, one_line, plain
from .comparisons import comparison_table
from .figures import Bubble

TASKS = ("inference", "extraction")  # the throughput shown: the first task measured for every checkpoint


@dataclass(frozen=True)
class Speed:
    setting: str  # "inference, cpu fp32, batch 32"
    texts_per_s: dict[str, float]  # checkpoint -> texts/s


@dataclass
class CheckpointView:
    answer: str
    table: Table
    comparisons: Table | None
    bubbles: list[Bubble]
    xlabel: str


def compared_pairs(doc: SuiteDocument) -> dict[str, list[PairRecord]]:
    """Approach id → its evaluated pairs, for approaches that run a model (``n_truncated`` is recorded)
    evaluated on two or more checkpoints."""
    groups: dict[str, list[PairRecord]] = {}
    for pair in doc.evaluated():
        if pair.n_truncated is not None:
            groups.setdefault(pair.approach.id, []).append(pair)
    return {a: pairs for a, pairs in groups.items() if len({p.checkpoint for p in pairs}) > 1}


def common_speed(records: list[TimingRecord], checkpoints: set[str]) -> Speed | None:
    """Texts/s of every checkpoint at the first setting measured for all of them, inference first."""
    for task in TASKS:
        settings: dict[tuple, dict[str, float]] = {}
        for r in records:
            if r.task == task:
                settings.setdefault((r.device, r.dtype, r.batch_size), {})[r.checkpoint] = r.texts_per_s
        for (device, dtype, batch), speeds in settings.items():
            if checkpoints <= speeds.keys():
                return Speed(f"{task}, {device} {dtype}, batch {batch}", speeds)
    return None


def _size(pair: PairRecord, field: str):
    source = pair.checkpoint_source
    return getattr(source, field, None) if source is not None else None


def _table(groups: dict[str, list[PairRecord]], speed: Speed | None) -> Table:
    level = next((p.metrics.ci.level for ps in groups.values() for p in ps if p.metrics.ci), None)
    rows = []
    for approach, pairs in groups.items():
        top = max(p.metrics.accuracy for p in pairs)
        for pair in sorted(pairs, key=lambda p: -p.metrics.accuracy):
            parameters = _size(pair, "n_parameters")
            rows.append(
                [
                    plain(approach),
                    plain(pair.checkpoint),
                    num(pair.metrics.accuracy, ".3f", best=pair.metrics.accuracy == top),
                    *([Cell(interval(pair.metrics.ci.accuracy if pair.metrics.ci else None), numeric=True)]
                      if level is not None else []),
                    num(pair.metrics.f1_macro, ".3f"),
                    num(pair.metrics.f1_weighted, ".3f"),
                    num(speed.texts_per_s.get(pair.checkpoint) if speed else None, ",.1f"),
                    num(parameters / 1e6 if parameters is not None else None, ",.1f"),
                    num(_size(pair, "weights_mb"), ",.0f"),
                ]
            )
    headers = [
        "approach",
        "checkpoint",
        "accuracy",
        *([f"accuracy {level:.0%} CI"] if level is not None else []),
        "F1 macro",
        "F1 weighted",
        "texts/s",
        "parameters (M)",
        "weights MiB",
    ]
    note = f"texts/s: the checkpoint's speed test ({speed.setting})" if speed else "texts/s: not measured"
    return Table(headers, rows, "checkpoints", one_line(note + f"; {MISSING}: not recorded."))


def paired(doc: SuiteDocument, groups: dict[str, list[PairRecord]]) -> list[Comparison]:
    """The run's paired comparisons (computed with the document, from the predictions the report does not
    read) between two checkpoints with the same approach."""
    return [
        c
        for c in doc.comparisons
        if c.a.approach == c.b.approach and c.a.checkpoint != c.b.checkpoint and c.a.approach in groups
    ]


def _ratio(a, b) -> str | None:
    return f"{a / b:.2g}×" if a and b else None


def _cheaper(a: PairRecord, b: PairRecord, speeds: dict[str, float]) -> PairRecord | None:
    """The pair whose checkpoint is faster (else smaller), None when neither is known."""
    if a.checkpoint in speeds and b.checkpoint in speeds:
        return a if speeds[a.checkpoint] >= speeds[b.checkpoint] else b
    sizes = _size(a, "n_parameters"), _size(b, "n_parameters")
    if None not in sizes:
        return a if sizes[0] <= sizes[1] else b
    return None


def answer(groups: dict[str, list[PairRecord]], comparisons: list[Comparison], speed: Speed | None) -> str:
    """"Which checkpoint, at what cost", in one line (see the module docstring)."""
    best = max((p for ps in groups.values() for p in ps), key=lambda p: p.metrics.accuracy)
    others = [p for p in groups[best.approach.id] if p.checkpoint != best.checkpoint]
    rival = max(others, key=lambda p: p.metrics.accuracy)
    test = next(
        (
            c
            for c in comparisons
            if c.metric == "accuracy"
            and c.a.approach == best.approach.id
            and {c.a.checkpoint, c.b.checkpoint} == {best.checkpoint, rival.checkpoint}
        ),
        None,
    )
    margin = (
        f"{best.checkpoint} · {best.approach.id} reaches accuracy {best.metrics.accuracy:.3f} (F1 macro "
        f"{best.metrics.f1_macro:.3f}), {rival.checkpoint} {rival.metrics.accuracy:.3f} "
        f"({rival.metrics.f1_macro:.3f}): {100 * (best.metrics.accuracy - rival.metrics.accuracy):+.1f} pt"
    )
    if test is not None:
        low, high = sorted((1 if test.a.checkpoint == best.checkpoint else -1) * x for x in test.ci)
        margin += f", 95% CI [{100 * low:+.1f}, {100 * high:+.1f}], McNemar p {test.mcnemar_p:.2g}"
    speeds = speed.texts_per_s if speed else {}
    costs = []
    if (ratio := _ratio(speeds.get(best.checkpoint), speeds.get(rival.checkpoint))) is not None:
        costs.append(
            f"{ratio} the texts/s ({speeds[best.checkpoint]:,.1f} vs {speeds[rival.checkpoint]:,.1f}, "
            f"{speed.setting})"
        )
    if (ratio := _ratio(_size(best, "n_parameters"), _size(rival, "n_parameters"))) is not None:
        costs.append(f"{ratio} the parameters")
    cost = f"; {best.checkpoint} runs at " + " and ".join(costs) if costs else "; the cost was not measured"
    if test is None:
        verdict = "not tested (the two did not score the same examples)"
    elif test.winner is not None:
        verdict = f"{best.checkpoint}, significantly better"
    elif (cheaper := _cheaper(best, rival, speeds)) is not None:
        verdict = f"{cheaper.checkpoint}: the difference is not significant and it is the cheaper"
    else:
        verdict = "either: the difference is not significant"
    wins: dict[str, int] = {}
    for c in comparisons:
        if c.metric == "accuracy" and c.winner is not None:
            winner = c.a.checkpoint if c.winner == "a" else c.b.checkpoint
            wins[winner] = wins.get(winner, 0) + 1
    tally = ", ".join(f"{name} {n}" for name, n in wins.items()) or "none"
    return one_line(
        f"Which checkpoint: {verdict}. {margin}{cost}. Significant accuracy wins between checkpoints with "
        f"the same approach: {tally}."
    )


def checkpoint_view(doc: SuiteDocument) -> CheckpointView | None:
    """The comparison of checkpoints, or None when no approach was evaluated on two checkpoints."""
    groups = compared_pairs(doc)
    if not groups:
        return None
    checkpoints = {p.checkpoint for ps in groups.values() for p in ps}
    speed = common_speed(doc.performance, checkpoints)
    comparisons = paired(doc, groups)
    bubbles = [
        Bubble(speed.texts_per_s[p.checkpoint], p.metrics.accuracy, _size(p, "n_parameters") or 0,
               f"{p.checkpoint.split('/')[-1]} · {approach}")
        for approach, pairs in groups.items()
        for p in pairs
        if speed is not None
    ]
    return CheckpointView(
        answer=answer(groups, comparisons, speed) if comparisons else one_line(
            "Which checkpoint: not answered, no two checkpoints scored the same examples with one approach."
        ),
        table=_table(groups, speed),
        comparisons=comparison_table(comparisons),
        bubbles=bubbles,
        xlabel=f"texts/s ({speed.setting})" if speed else "texts/s",
    )
