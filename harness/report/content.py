"""What the report shows, as formatted tables and facts: shared by the Markdown and HTML renderers.

Everything here is plain text (never escaped: each renderer escapes for its own format) built
from a suite results document (``docs/results.md``). Optional parts of the document give ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MISSING = "—"
TEXT_LIMIT = 200  # dataset texts longer than this are shortened (with an ellipsis) in tables
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # line breaks and other control characters


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    best: bool = False
    full: str | None = None  # the whole text, when ``text`` was shortened


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    kind: str = ""  # what the table holds, e.g. "leaderboard" (an HTML class)


@dataclass
class TokenLengths:
    checkpoint: str
    split: str
    max_length: int | None
    per_class: Table
    stats: dict  # label -> bxp statistics, for the box plot


@dataclass
class DatasetView:
    name: str
    overview: dict
    splits: Table
    token_lengths: list[TokenLengths]
    exceeding: Table | None
    n_conflicting: int
    duplicates: Table | None


@dataclass
class SuspectsView:
    rule: str
    per_class: Table
    examples: Table


@dataclass
class PairView:
    anchor: str
    title: str
    record: dict
    facts: list[tuple[str, str]]
    gates: Table | None
    confusion: Table
    per_class: Table
    worst: Table | None
    best: Table | None
    calibration_summary: str | None
    calibration: Table | None
    suspects: SuspectsView | None
    baseline_status: str | None
    baseline: Table | None


@dataclass
class Report:
    suite: str
    facts: list[tuple[str, str]]
    versions: str
    datasets: list[DatasetView]
    leaderboard: Table | None
    not_evaluated: Table | None
    pairs: list[PairView]
    comparisons: Table | None
    performance: Table | None


def fmt(value, spec: str) -> str:
    return MISSING if value is None else format(value, spec)


def one_line(text) -> str:
    """The text on one line: line breaks and control characters become a space."""
    return _BREAKS.sub(" ", str(text))


def text_cell(text) -> Cell:
    """A dataset text, on one line, shortened with an ellipsis past :data:`TEXT_LIMIT` characters."""
    line = one_line(text)
    if len(line) <= TEXT_LIMIT:
        return Cell(line)
    return Cell(line[: TEXT_LIMIT - 1].rstrip() + "…", full=line)


def num(value, spec: str, best: bool = False) -> Cell:
    return Cell(fmt(value, spec), numeric=True, best=best)


def plain(value) -> Cell:
    return Cell(MISSING if value is None else one_line(value))


def interval(bounds, spec: str = ".3f") -> str:
    return MISSING if not bounds else f"[{format(bounds[0], spec)}, {format(bounds[1], spec)}]"


def approach_id(approach) -> str:
    return approach.get("id", MISSING) if isinstance(approach, dict) else str(approach)


def pair_title(pair: dict) -> str:
    return f"{pair.get('checkpoint', MISSING)} · {approach_id(pair.get('approach'))}"


def evaluated(doc: dict) -> list[dict]:
    return [p for p in doc.get("pairs") or [] if p.get("metrics")]


def throughput(pair: dict) -> float | None:
    """Prediction speed in texts per second: ``n_examples / timings.predict``."""
    predict = (pair.get("timings") or {}).get("predict")
    n = pair.get("n_examples")
    return n / predict if n and predict else None


def best_flags(cells: list[Cell], better: str) -> list[Cell]:
    """Mark the best displayed value(s) of a column: ``better`` is ``"max"`` or ``"min"``."""
    shown = [float(c.text.replace(",", "")) if c.text != MISSING else None for c in cells]
    present = [v for v in shown if v is not None]
    if not present:
        return cells
    target = max(present) if better == "max" else min(present)
    return [Cell(c.text, c.numeric, v == target, c.full) for c, v in zip(cells, shown, strict=True)]


def gate_summary(gates: list[dict]) -> str:
    """``accuracy 0.934 ≥ 0.900 ✓; f1_macro 0.801 < 0.850 ✗``, or a dash without gates."""
    parts = [
        f"{g['metric']} {g['value']:.3f} ≥ {g['threshold']:.3f} ✓"
        if g.get("passed")
        else f"{g['metric']} {g['value']:.3f} < {g['threshold']:.3f} ✗"
        for g in gates
    ]
    return "; ".join(parts) or MISSING


def leaderboard(doc: dict) -> Table | None:
    """One row per evaluated pair, best accuracy first; the best value of each column is marked."""
    pairs = sorted(evaluated(doc), key=lambda p: -p["metrics"].get("accuracy", 0.0))
    if not pairs:
        return None
    ci_level = next((p["metrics"]["ci"].get("level") for p in pairs if p["metrics"].get("ci")), None)
    columns = [
        ("accuracy", [num(p["metrics"].get("accuracy"), ".3f") for p in pairs], "max"),
    ]
    if ci_level is not None:
        ci = [Cell(interval((p["metrics"].get("ci") or {}).get("accuracy")), numeric=True) for p in pairs]
        columns.append((f"accuracy {ci_level:.0%} CI", ci, None))
    columns += [
        ("F1 weighted", [num(p["metrics"].get("f1_weighted"), ".3f") for p in pairs], "max"),
        ("F1 macro", [num(p["metrics"].get("f1_macro"), ".3f") for p in pairs], "max"),
        ("fit s", [num((p.get("timings") or {}).get("fit"), ".2f") for p in pairs], "min"),
        ("predict texts/s", [num(throughput(p), ",.0f") for p in pairs], "max"),
    ]
    columns = [(name, best_flags(cells, better) if better else cells) for name, cells, better in columns]
    rows = [
        [
            Cell(str(i + 1), numeric=True),
            plain(pair.get("checkpoint")),
            plain(approach_id(pair.get("approach"))),
            *(cells[i] for _, cells in columns),
            plain(gate_summary(pair.get("gates") or [])),
        ]
        for i, pair in enumerate(pairs)
    ]
    headers = ["#", "checkpoint", "approach", *(name for name, _ in columns), "gates"]
    return Table(headers, rows, "leaderboard")


def not_evaluated(doc: dict) -> Table | None:
    """Skipped and failed pairs with their one-line reasons."""
    pairs = [p for p in doc.get("pairs") or [] if p.get("status") in ("skipped", "failed")]
    if not pairs:
        return None
    rows = [
        [
            plain(p.get("checkpoint")),
            plain(approach_id(p.get("approach"))),
            plain(p["status"]),
            text_cell(p.get("reason") or MISSING),
        ]
        for p in pairs
    ]
    return Table(["checkpoint", "approach", "status", "reason"], rows, "not-evaluated")


def header_facts(doc: dict) -> list[tuple[str, str]]:
    env = doc.get("environment") or {}
    cpu = env.get("cpu") or MISSING
    if env.get("cpu_count"):
        cpu += f" ({env['cpu_count']} cores"
        cpu += f", {env['torch_threads']} torch threads)" if env.get("torch_threads") else ")"
    return [
        ("Run date", one_line(env.get("date") or MISSING)),
        ("Run id", one_line(doc.get("run_id") or MISSING)),
        ("Git commit", one_line(env.get("git_commit") or MISSING)),
        ("CPU", one_line(cpu)),
        ("GPU", one_line(env.get("gpu") or "none")),
        ("Device", one_line(env.get("device") or MISSING)),
        ("dtype", one_line(env.get("dtype") or MISSING)),
        ("Python", one_line(env.get("python") or MISSING)),
        ("Platform", one_line(env.get("platform") or MISSING)),
    ]


def versions(doc: dict) -> str:
    found = ((doc.get("environment") or {}).get("versions") or {}).items()
    return (
        " · ".join(f"{one_line(name)} {one_line(version or MISSING)}" for name, version in found) or MISSING
    )


def split_table(overview: dict) -> Table:
    labels = overview.get("labels") or []
    rows = [
        [plain(split), num(info.get("n"), "d")]
        + [num((info.get("class_counts") or {}).get(label), "d") for label in labels]
        for split, info in (overview.get("splits") or {}).items()
    ]
    return Table(["split", "texts", *labels], rows, "splits")


def token_length_views(overview: dict) -> list[TokenLengths]:
    views = []
    for checkpoint, lengths in (overview.get("token_lengths") or {}).items():
        stats = lengths.get("per_class") or {}
        rows = [
            [plain(label), num(s.get("n"), "d")]
            + [num(s.get(key), ".1f") for key in ("mean", "min", "q1", "med", "q3", "max")]
            for label, s in stats.items()
        ]
        table = Table(["class", "texts", "mean", "min", "q1", "median", "q3", "max"], rows, "token-lengths")
        views.append(
            TokenLengths(checkpoint, lengths.get("split") or MISSING, lengths.get("max_length"), table, stats)
        )
    return views


def exceeding_table(overview: dict) -> Table | None:
    lengths = overview.get("token_lengths") or {}
    if not lengths:
        return None
    rows = [
        [
            plain(checkpoint),
            num(info.get("max_length"), "d"),
            plain(
                ", ".join(f"{split}: {n}" for split, n in (info.get("n_exceeding") or {}).items()) or MISSING
            ),
        ]
        for checkpoint, info in lengths.items()
    ]
    return Table(["checkpoint", "max length", "texts over max length"], rows, "exceeding")


def duplicates_table(duplicates: dict) -> Table | None:
    examples = duplicates.get("examples") or []
    if not examples:
        return None
    rows = [
        [
            text_cell(e.get("text", "")),
            plain(", ".join(f"{x.get('split')}: {x.get('label')}" for x in e.get("labels") or [])),
        ]
        for e in examples
    ]
    return Table(["text", "labels (split: label)"], rows, "duplicates")


def dataset_views(doc: dict) -> list[DatasetView]:
    views = []
    for name, overview in (doc.get("datasets") or {}).items():
        duplicates = overview.get("duplicates") or {}
        views.append(
            DatasetView(
                name=one_line(name),
                overview=overview,
                splits=split_table(overview),
                token_lengths=token_length_views(overview),
                exceeding=exceeding_table(overview),
                n_conflicting=int(duplicates.get("n_conflicting") or 0),
                duplicates=duplicates_table(duplicates),
            )
        )
    return views


def pair_facts(pair: dict) -> list[tuple[str, str]]:
    timings = pair.get("timings") or {}
    source = pair.get("checkpoint_source") or {}
    approach = pair.get("approach")
    params = (approach.get("params") if isinstance(approach, dict) else None) or {}
    facts = [
        ("Status", pair.get("status") or MISSING),
        ("Reason", pair.get("reason")),
        ("Dataset", pair.get("dataset")),
        ("Fitted on", pair.get("train_split")),
        ("Evaluated on", f"{pair.get('split') or MISSING} ({fmt(pair.get('n_examples'), 'd')} texts)"),
        ("Texts truncated", fmt(pair.get("n_truncated"), "d") if "n_truncated" in pair else None),
        ("Checkpoint source", f"{source['kind']}: {source.get('location')}" if source.get("kind") else None),
        ("Mean loss", fmt(pair["metrics"].get("loss_mean"), ".3f")),
        ("Timings", ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in timings.items()) or None),
        ("Approach parameters", ", ".join(f"{k}={v}" for k, v in params.items()) or None),
    ]
    return [(name, one_line(value)) for name, value in facts if value is not None]


def gates_table(gates: list[dict]) -> Table | None:
    if not gates:
        return None
    rows = [
        [
            plain(g.get("metric")),
            num(g.get("threshold"), ".3f"),
            num(g.get("value"), ".3f"),
            plain("✓" if g.get("passed") else "✗"),
        ]
        for g in gates
    ]
    return Table(["metric", "minimum", "value", "passed"], rows, "gates")


def confusion_table(labels: list[str], matrix: list[list[float]]) -> Table:
    rows = [[plain(gold)] + [num(v, ".2f") for v in row] for gold, row in zip(labels, matrix, strict=False)]
    return Table(["gold \\ predicted", *labels], rows, "confusion")


def per_class_table(per_class: dict) -> Table:
    rows = [
        [plain(label)]
        + [num(s.get(k), ".3f") for k in ("precision", "recall", "f1")]
        + [num(s.get("support"), "d")]
        for label, s in per_class.items()
    ]
    return Table(["class", "precision", "recall", "F1", "support"], rows, "per-class")


def examples_table(examples: list[dict], kind: str) -> Table | None:
    if not examples:
        return None
    rows = [
        [
            num(e.get("index"), "d"),
            text_cell(e.get("text", "")),
            plain(e.get("gold")),
            plain(e.get("predicted")),
            num(e.get("loss"), ".3f"),
            num(e.get("p_gold"), ".3f"),
        ]
        for e in examples
    ]
    return Table(["#", "text", "gold", "predicted", "loss", "p(gold)"], rows, f"examples {kind}")


def calibration_table(calibration: dict | None) -> Table | None:
    bins = (calibration or {}).get("bins") or []
    if not bins:
        return None
    rows = [
        [
            plain(f"{b['low']:.2f}–{b['high']:.2f}"),
            num(b.get("count"), "d"),
            num(b.get("confidence"), ".3f"),
            num(b.get("accuracy"), ".3f"),
        ]
        for b in bins
    ]
    return Table(["confidence bin", "texts", "mean confidence", "accuracy"], rows, "calibration")


def suspects_view(suspects: dict | None) -> SuspectsView | None:
    if not suspects:
        return None
    per_class = Table(
        ["class", "suspects"],
        [[plain(k), num(v, "d")] for k, v in (suspects.get("per_class") or {}).items()],
        "suspects-per-class",
    )
    rows = [
        [
            num(e.get("index"), "d"),
            text_cell(e.get("text", "")),
            plain(e.get("gold")),
            plain(e.get("predicted")),
            num(e.get("p_gold"), ".3f"),
            plain("yes" if e.get("conflicting") else "no"),
        ]
        for e in suspects.get("examples") or []
    ]
    examples = Table(
        ["#", "text", "gold", "predicted", "p(gold)", "conflicting labels"], rows, "examples suspects"
    )
    return SuspectsView(one_line(suspects.get("rule") or MISSING), per_class, examples)


def baseline_table(baseline: dict | None) -> Table | None:
    checks = (baseline or {}).get("checks") or []
    if not checks:
        return None
    rows = [
        [
            plain(c.get("metric")),
            num(c.get("baseline"), ".3f"),
            num(c.get("value"), ".3f"),
            num(c.get("tolerance"), ".3f"),
            plain("✓" if c.get("passed") else "✗"),
        ]
        for c in checks
    ]
    return Table(["metric", "baseline", "value", "tolerance", "passed"], rows, "baseline")


def pair_view(index: int, pair: dict) -> PairView:
    metrics = pair["metrics"]
    labels = pair.get("labels") or list((metrics.get("per_class") or {}).keys())
    examples = pair.get("examples") or {}
    calibration = [
        f"ECE {metrics['ece']:.3f}" if metrics.get("ece") is not None else None,
        f"Brier {metrics['brier']:.3f}" if metrics.get("brier") is not None else None,
    ]
    baseline = pair.get("baseline")
    return PairView(
        anchor=f"pair-{index}",
        title=one_line(pair_title(pair)),
        record=pair,
        facts=pair_facts(pair),
        gates=gates_table(pair.get("gates") or []),
        confusion=confusion_table(labels, metrics.get("confusion_matrix") or []),
        per_class=per_class_table(metrics.get("per_class") or {}),
        worst=examples_table(examples.get("worst_loss") or [], "worst-loss"),
        best=examples_table(examples.get("best_loss") or [], "best-loss"),
        calibration_summary=" · ".join(c for c in calibration if c) or None,
        calibration=calibration_table(pair.get("calibration")),
        suspects=suspects_view(pair.get("label_suspects")),
        baseline_status=baseline.get("status") if baseline else None,
        baseline=baseline_table(baseline),
    )


def side(entry) -> str:
    entry = entry or {}
    return f"{entry.get('checkpoint', MISSING)} · {approach_id(entry.get('approach'))}"


def comparisons_table(doc: dict) -> Table | None:
    comparisons = doc.get("comparisons") or []
    if not comparisons:
        return None
    rows = []
    for c in comparisons:
        winner = {"a": side(c.get("a")), "b": side(c.get("b"))}.get(
            c.get("winner"), "no significant difference"
        )
        discordant = c.get("n_discordant")
        rows.append(
            [
                plain(side(c.get("a"))),
                plain(side(c.get("b"))),
                plain(c.get("metric")),
                num(c.get("a_value"), ".3f"),
                num(c.get("b_value"), ".3f"),
                num(c.get("difference"), "+.3f"),
                Cell(interval(c.get("ci"), "+.3f"), numeric=True),
                num(c.get("mcnemar_p"), ".3g"),
                Cell(f"{discordant[0]} / {discordant[1]}" if discordant else MISSING, numeric=True),
                num(c.get("n_examples"), "d"),
                plain(winner),
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


def performance_table(doc: dict) -> Table | None:
    records = doc.get("performance") or []
    if not records:
        return None
    rows = []
    for r in records:
        latency = r.get("latency_ms") or {}
        rows.append(
            [
                plain(r.get("checkpoint")),
                plain(r.get("task")),
                plain(r.get("device")),
                plain(r.get("dtype")),
                num(r.get("batch_size"), "d"),
                num(r.get("texts_per_s"), ",.1f"),
                num(r.get("tokens_per_s"), ",.0f"),
            ]
            + [num(latency.get(q), ".1f") for q in ("p50", "p90", "p95", "p99")]
            + [
                num(r.get("peak_rss_mb"), ",.0f"),
                num(r.get("peak_cuda_mb"), ",.0f"),
                num(r.get("speedup_vs_cpu"), ".2f"),
            ]
        )
    headers = [
        "checkpoint",
        "task",
        "device",
        "dtype",
        "batch",
        "texts/s",
        "tokens/s",
        "p50 ms",
        "p90 ms",
        "p95 ms",
        "p99 ms",
        "peak RSS MB",
        "peak CUDA MB",
        "speedup vs CPU",
    ]
    return Table(headers, rows, "performance")


def build_report(doc: dict) -> Report:
    """Everything the report shows, from a suite results document."""
    return Report(
        suite=one_line(doc.get("suite") or MISSING),
        facts=header_facts(doc),
        versions=versions(doc),
        datasets=dataset_views(doc),
        leaderboard=leaderboard(doc),
        not_evaluated=not_evaluated(doc),
        pairs=[pair_view(i, p) for i, p in enumerate(evaluated(doc), start=1)],
        comparisons=comparisons_table(doc),
        performance=performance_table(doc),
    )
