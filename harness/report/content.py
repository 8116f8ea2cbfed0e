"""What the report shows, as formatted tables and facts: shared by the Markdown and HTML renderers.

Everything here is plain text (never escaped: each renderer escapes for its own format) built from a
typed suite document (:class:`harness.results.SuiteDocument`). A report stays bounded whatever the
document holds: texts are shortened, long lists are cut with a note, and past :data:`LISTED_CLASSES`
classes the tables show a sample of classes and the largest confusions instead of the full matrix.
The results JSON keeps everything.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..results import METRICS, DatasetOverview, PairRecord, SuiteDocument, TimingRecord
from ..results.model import (
    BaselineResult,
    Calibration,
    ClassScores,
    Duplicates,
    Example,
    GateResult,
    LabelSuspects,
    TrainingThroughput,
)

from .cells import (
    LISTED_CLASSES, MISSING, ROW_LIMIT, Cell, Table, fmt, interval, is_number, num, one_line, plain,
    shortened, text_cell, title,
)
from .comparisons import comparison_table

if TYPE_CHECKING:
    from .budget import BudgetView
    from .checkpoints import CheckpointView
    from .curves import LearningCurveView
    from .runtimes import RuntimeView

CLASS_SAMPLE = 25
TOP_CONFUSIONS = 20  # past LISTED_CLASSES classes, the largest off-diagonal cells replace the matrix
DUPLICATES_IN_MARKDOWN = 10
UNRECORDED = "its record does not say whether its predict step runs the model"  # older documents
CACHED = "cached"  # marks timings an earlier run measured (the pair's predictions came from the cache)
METRIC_NAMES = {"accuracy": "accuracy", "f1_weighted": "F1 weighted", "f1_macro": "F1 macro"}
UNAVAILABLE = "cannot be resolved"  # how a skip for a checkpoint the hub cannot give offline reads


@dataclass
class Summary:
    counts: str
    best: Table | None  # the best pair per metric
    fastest: Table | None  # the fastest checkpoint per device and task
    problems: Table | None  # skipped and failed pairs
    baseline: str | None
    verdict: str = ""  # the first line: passed, failed or incomplete, with the tests counted
    verdict_tests: Table | None = None  # every failed and unfinished test, linked to where it is shown


@dataclass
class TokenLengths:
    checkpoint: str
    split: str
    max_length: int | None
    per_class: Table
    stats: dict  # label -> bxp statistics of the classes shown, for the box plot


@dataclass
class DatasetView:
    name: str
    splits: Table
    class_counts: Table | None  # past LISTED_CLASSES classes: a sample of classes, one row each
    distribution: dict[str, dict[str, int]]  # split -> class -> texts, of the classes the figure shows
    token_lengths: list[TokenLengths]
    exceeding: Table | None
    n_conflicting: int
    duplicates: Table | None  # up to ROW_LIMIT rows (HTML)
    duplicates_brief: Table | None  # up to DUPLICATES_IN_MARKDOWN rows (Markdown)
    warnings: list[str] = field(default_factory=list)  # label and leakage problems, one line each


@dataclass
class SuspectsView:
    rule: str
    per_class: Table
    examples: Table


@dataclass
class PairView:
    anchor: str
    title: str
    record: PairRecord
    facts: list[tuple[str, str]]
    gates: Table | None
    confusion_caption: str
    confusion: Table
    matrix: list[list[float]] | None  # the matrix to draw, when it is square and matches the labels
    labels: list[str]
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
    summary: Summary
    leaderboard: Table | None
    datasets: list[DatasetView]
    pairs: list[PairView]
    comparisons: Table | None
    performance: Table | None
    runtimes: list[RuntimeView]  # deployment runtimes per pair; empty when none was measured
    learning_curve: LearningCurveView | None = None  # for a suite that declares SHOTS
    gpu_vs_cpu: Table | None = None  # GPU records beside the CPU's; None without both
    budget: BudgetView | None = None  # where the time went; None when no phase was recorded
    checkpoints: CheckpointView | None = None  # when an approach was evaluated on two or more checkpoints

    @property
    def no_pairs(self) -> str:
        return no_pairs_text(self.learning_curve is not None)


def no_pairs_text(has_curves: bool) -> str:
    """What an empty pair table says: a learning-curve suite has its results in the curve."""
    if has_curves:
        return "No pair outside the learning curve was run; the learning curve holds the results."
    return "No pair was evaluated."


# --- cells ---


def column(values: list, spec: str, better: str | None = None) -> list[Cell]:
    """Number cells; with ``better`` (``"max"`` or ``"min"``) the best value(s) are marked."""
    present = [v for v in values if is_number(v)]
    target = (max if better == "max" else min)(present) if better and present else None
    return [num(v, spec, best=target is not None and v == target) for v in values]


def capped(items: list, limit: int, what: str) -> tuple[list, str | None]:
    """The first ``limit`` items, and a note saying how many the document has when that cuts any."""
    if len(items) <= limit:
        return items, None
    return items[
        :limit
    ], f"The first {limit} of {len(items):,} {what} are shown; all are in the results JSON."


def class_sample(weights: dict[str, float], what: str) -> tuple[list[str], str | None]:
    """Every class, or past :data:`LISTED_CLASSES` the :data:`CLASS_SAMPLE` with the most ``what``
    and the :data:`CLASS_SAMPLE` with the fewest (most first), with a note saying so."""
    names = list(weights)
    if len(names) <= LISTED_CLASSES:
        return names, None
    ranked = sorted(names, key=lambda name: -weights[name] if is_number(weights[name]) else 0)
    note = (
        f"{len(names):,} classes: the {CLASS_SAMPLE} with the most {what} and the {CLASS_SAMPLE} with "
        "the fewest are shown; every class is in the results JSON."
    )
    return ranked[:CLASS_SAMPLE] + ranked[-CLASS_SAMPLE:], note


# --- summary and leaderboard ---


def ranked(doc: SuiteDocument) -> list[PairRecord]:
    """Evaluated pairs, best accuracy first."""
    return sorted(doc.evaluated(), key=lambda p: -p.metrics.accuracy)


def no_forward_pass(pair: PairRecord) -> str | None:
    """Why ``n_examples / timings.predict`` is not a model's throughput for this pair, or None when it is:
    what the approach's class says of itself, as the engine recorded it."""
    runs_model = pair.approach.runs_model
    if runs_model:
        return None
    if runs_model is None:
        return UNRECORDED
    return pair.approach.no_model_reason or "its predict step does not run the model"


def throughput(pair: PairRecord) -> float | None:
    """Texts per second, ``n_examples / timings.predict``, where the predict step ran the model."""
    predict = pair.timings.predict if pair.timings else None
    if no_forward_pass(pair) or not pair.n_examples or not predict or predict <= 0:
        return None
    return pair.n_examples / predict


def gate_summary(gates: list[GateResult]) -> str:
    """``accuracy 0.934 ≥ 0.900 ✓; f1_macro 0.801 < 0.850 ✗``, or a dash without gates."""
    parts = [
        f"{g.metric} {g.value:.3f} ≥ {g.threshold:.3f} ✓"
        if g.passed
        else f"{g.metric} {g.value:.3f} < {g.threshold:.3f} ✗"
        for g in gates
    ]
    return "; ".join(parts) or MISSING


def ci_level(pairs: list[PairRecord]) -> float | None:
    return next((p.metrics.ci.level for p in pairs if p.metrics.ci is not None), None)


def leaderboard(doc: SuiteDocument) -> Table | None:
    """One row per evaluated pair, best accuracy first; the best value of each column is marked."""
    pairs = ranked(doc)
    if not pairs:
        return None
    level = ci_level(pairs)
    columns = [("accuracy", column([p.metrics.accuracy for p in pairs], ".3f", "max"))]
    if level is not None:
        bounds = [p.metrics.ci.accuracy if p.metrics.ci else None for p in pairs]
        columns.append((f"accuracy {level:.0%} CI", [Cell(interval(b), numeric=True) for b in bounds]))
    columns += [
        ("F1 weighted", column([p.metrics.f1_weighted for p in pairs], ".3f", "max")),
        ("F1 macro", column([p.metrics.f1_macro for p in pairs], ".3f", "max")),
        ("fit s", timing_column(pairs, [p.timings.fit if p.timings else None for p in pairs], ".2f", "min")),
        ("predict texts/s", timing_column(pairs, [throughput(p) for p in pairs], ",.0f", "max")),
        ("runtime", [plain(p.runtime) for p in pairs]),
    ]
    if any(p.seeds is not None for p in pairs):  # the columns above are the first seed's
        from .curves import metric_with_spread

        columns.append(("accuracy over seeds", [plain(metric_with_spread(p)) for p in pairs]))
    rows = [
        [
            Cell(str(i + 1), numeric=True),
            plain(pair.checkpoint),
            plain(pair.approach.id),
            *(cells[i] for _, cells in columns),
            plain(gate_summary(pair.gates)),
        ]
        for i, pair in enumerate(pairs)
    ]
    headers = ["#", "checkpoint", "approach", *(name for name, _ in columns), "gates"]
    notes = [note for note in (throughput_note(pairs), cached_note(pairs), runtime_note(pairs)) if note]
    return Table(headers, rows, "leaderboard", " ".join(notes) or None)


def timing_column(pairs: list[PairRecord], values: list, spec: str, better: str) -> list[Cell]:
    """A timing column (best value marked); a cached pair's value says an earlier run measured it."""
    cells = column(values, spec, better)
    return [
        Cell(f"{cell.text} ({CACHED})", numeric=True, best=cell.best) if pair.cached and cell.text != MISSING
        else cell
        for pair, cell in zip(pairs, cells, strict=True)
    ]


def cached_note(pairs: list[PairRecord]) -> str | None:
    """What the cached marker means, when a timing carries it."""
    if not any(p.cached and p.timings for p in pairs):
        return None
    return (
        f"({CACHED}): the pair's predictions came from the cache, so its fit seconds and predict texts/s "
        "are those of the earlier run that computed them, on that run's machine and load."
    )


def runtime_note(pairs: list[PairRecord]) -> str | None:
    """What the runtime column holds, when there is one to read."""
    if not any(p.runtime for p in pairs):
        return None
    return "runtime: the device, dtype (as resolved: auto became bf16 or fp32) and batch size of the pair."


def throughput_note(pairs: list[PairRecord]) -> str | None:
    """What a dash in the throughput column means, when there is one."""
    reasons = {p.approach.id: no_forward_pass(p) for p in pairs}
    why = "; ".join(f"{approach} {reason}" for approach, reason in reasons.items() if reason)
    if not why:
        return None
    return (
        "predict texts/s (texts / predict seconds) is shown only where the predict step runs the model; "
        f"{MISSING}: no forward pass of the pair's own was timed ({why}). Model throughput is measured in "
        "the Performance section."
    )


def best_pairs(doc: SuiteDocument) -> Table | None:
    """For each gated metric, the pair(s) with the highest value, with its confidence interval."""
    pairs = ranked(doc)
    if not pairs:
        return None
    level = ci_level(pairs)
    rows = []
    for metric in METRICS:
        top = max(getattr(p.metrics, metric) for p in pairs)
        for pair in (p for p in pairs if getattr(p.metrics, metric) == top):
            bounds = getattr(pair.metrics.ci, metric) if pair.metrics.ci else None
            rows.append(
                [
                    plain(METRIC_NAMES[metric]),
                    plain(pair.checkpoint),
                    plain(pair.approach.id),
                    num(top, ".3f"),
                    *([Cell(interval(bounds), numeric=True)] if level is not None else []),
                ]
            )
    headers = [
        "metric",
        "checkpoint",
        "approach",
        "value",
        *([f"{level:.0%} CI"] if level is not None else []),
    ]
    return Table(headers, rows, "best-pairs")


def fastest(doc: SuiteDocument) -> Table | None:
    """The fastest checkpoint (texts/s) per device and task, from the performance records."""
    best: dict[tuple, TimingRecord] = {}
    for record in doc.performance:
        key = (record.device, record.task)
        if key not in best or record.texts_per_s > best[key].texts_per_s:
            best[key] = record
    if not best:
        return None
    rows = [
        [
            plain(r.device),
            plain(r.task),
            plain(r.checkpoint),
            num(r.texts_per_s, ",.1f"),
            plain(r.dtype),
            num(r.batch_size, "d"),
        ]
        for r in best.values()
    ]
    return Table(["device", "task", "checkpoint", "texts/s", "dtype", "batch"], rows, "fastest")


def problems(doc: SuiteDocument) -> Table | None:
    """Skipped and failed pairs with their one-line reasons."""
    pairs = [p for p in doc.pairs if p.status in ("skipped", "failed")]
    if not pairs:
        return None
    rows = [
        [plain(p.checkpoint), plain(p.approach.id), plain(p.status), plain(p.reason or MISSING)]
        for p in pairs
    ]
    return Table(["checkpoint", "approach", "status", "reason"], rows, "not-evaluated")


def data_warnings(overview: DatasetOverview) -> list[str]:
    """One line per label or leakage problem of a dataset: classes without training examples, labels
    that differ only by case or whitespace, evaluation texts found verbatim in the training split."""
    lines, checks = [], overview.label_checks
    if checks is not None:
        for split, missing in checks.unseen_in_train.items():
            lines.append(one_line(
                f"dataset {overview.name}: {split} has classes with no {checks.train_split} examples: "
                f"{', '.join(map(repr, missing))}"
            ))
        lines += [
            one_line(f"dataset {overview.name}: labels that differ only by case or whitespace: "
                     f"{', '.join(map(repr, group))}")
            for group in checks.similar_labels
        ]
    return lines + leakage_warnings(overview)


def leakage_warnings(overview: DatasetOverview) -> list[str]:
    """One line per evaluation split with texts found verbatim in the training split: count, share,
    two examples."""
    train = overview.label_checks.train_split if overview.label_checks else "train"
    return [
        one_line(
            f"dataset {overview.name}: {leak.n_leaked} {leak.split} texts ({leak.share:.1%}) appear verbatim "
            f"in {train} (leakage), e.g. "
            + "; ".join(repr(shortened(text, 80)) for text in leak.examples[:2])
        )
        for leak in overview.leakage
    ]


def status_counts(doc: SuiteDocument) -> str:
    counts = {
        status: sum(p.status == status for p in doc.pairs) for status in ("passed", "failed", "skipped")
    }
    found = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    unavailable = {
        p.checkpoint for p in doc.pairs if p.status == "skipped" and UNAVAILABLE in (p.reason or "")
    }
    if unavailable:
        found += f" ({len(unavailable)} checkpoint{'s' * (len(unavailable) > 1)} not available here: skipped)"
    return f"{len(doc.pairs)} pairs: {found or 'none run'}."


def baseline_line(doc: SuiteDocument) -> str | None:
    """``Baseline: 1 ok, 1 regressed (A · b), 1 new; timing: 2 ok.``, or None when nothing was
    compared with a baseline."""
    checked = [(title(p.checkpoint, p.approach.id), p.baseline.status) for p in doc.pairs if p.baseline]
    timed = [
        (f"{r.checkpoint} {r.task} {r.device} {r.dtype}", r.baseline.get("status"))
        for r in doc.performance
        if r.baseline
    ]
    pairs, timing = _statuses(checked), _statuses(timed)
    if not (pairs or timing):
        return None
    line = pairs or "no pair compared"
    if timing:
        line += f"; timing: {timing}"
    return one_line(f"Baseline: {line}.")


def _statuses(checked: list[tuple[str, str]]) -> str:
    parts = []
    for status in ("ok", "regressed", "new", "not-gated"):
        names = [name for name, seen in checked if seen == status]
        if names:
            which = f" ({', '.join(names)})" if status == "regressed" else ""
            parts.append(f"{len(names)} {status}{which}")
    return ", ".join(parts)


def summary(doc: SuiteDocument) -> Summary:
    return Summary(
        status_counts(doc), best_pairs(doc), fastest(doc), problems(doc), baseline_line(doc),
        verdict_line(doc), verdict_table(doc),
    )


SECTION_ANCHORS = {"performance": "performance", "runtimes": "runtimes", "learning-curve": "learning-curve"}


def verdict_line(doc: SuiteDocument) -> str:
    """``Failed: 2 of 14 tests failed, 12 passed.`` / ``Incomplete (worker crashed): …`` / ``Passed: …``;
    a file without a recorded verdict is judged by its pairs."""
    v = doc.verdict
    if v is None:
        failed = sum(p.status == "failed" for p in doc.pairs)
        return f"Failed: {failed} pairs failed." if failed else "Passed (no test verdict recorded)."
    counts = ", ".join(
        f"{n} {'did not finish' if outcome == 'unfinished' else outcome}"
        for outcome, n in v.tests.items()
        if n
    )
    total = sum(v.tests.values())
    if v.status == "incomplete":
        return one_line(f"Incomplete ({v.reason}): {total} tests, {counts}.")
    if v.status == "failed":
        return one_line(f"Failed: {v.tests.get('failed', 0)} of {total} tests failed, {counts}.")
    return one_line(f"Passed: {total} tests, {counts or 'none run'}.")


def verdict_table(doc: SuiteDocument) -> Table | None:
    """Each failed and unfinished test: what went wrong, linked to the section or pair that shows it."""
    v = doc.verdict
    if v is None or not (v.failures or v.unfinished):
        return None
    anchors = {(p.checkpoint, p.approach.id): f"pair-{i}" for i, p in enumerate(doc.evaluated(), start=1)}

    def where(section: str, pair) -> Cell:
        key = (pair.checkpoint, pair.approach) if pair else None
        anchor = anchors.get(key) if section == "pair" else SECTION_ANCHORS.get(section)
        shown = title(*key) if key else section
        return Cell(shown, link=anchor) if anchor else plain(shown if key or section != "other" else None)

    rows = [[plain(f.test), plain("failed"), plain(f.message), where(f.section, f.pair)] for f in v.failures]
    rows += [
        [plain(u.test), plain(f"not finished: {u.reason}"), plain(MISSING), where("pair", u.pair)]
        for u in v.unfinished
    ]
    return Table(["test", "outcome", "message", "shown in"], rows[:ROW_LIMIT], "verdict",
                 f"{len(rows) - ROW_LIMIT} more in the results file" if len(rows) > ROW_LIMIT else None)


# --- run ---


def header_facts(doc: SuiteDocument) -> list[tuple[str, str]]:
    env = doc.environment
    cpu = str(env.get("cpu") or MISSING)
    if env.get("cpu_count"):
        cpu += f" ({env['cpu_count']} cores"
        cpu += f", {env['torch_threads']} torch threads)" if env.get("torch_threads") else ")"
    return [
        ("Run date", one_line(env.get("date") or MISSING)),
        ("Run id", one_line(doc.run_id or MISSING)),
        ("Git commit", one_line(env.get("git_commit") or MISSING)),
        ("CPU", one_line(cpu)),
        ("GPU", one_line(env.get("gpu") or "none")),
        ("Device", one_line(env.get("device") or MISSING)),
        ("dtype", one_line(env.get("dtype") or MISSING)),
        ("Python", one_line(env.get("python") or MISSING)),
        ("Platform", one_line(env.get("platform") or MISSING)),
    ]


def versions(doc: SuiteDocument) -> str:
    found = doc.environment.get("versions") or {}
    if not isinstance(found, dict):
        return one_line(found)
    return one_line(" · ".join(f"{name} {version or MISSING}" for name, version in found.items()) or MISSING)


# --- dataset ---


def totals(overview: DatasetOverview) -> dict[str, int]:
    """Texts per class over every split."""
    counts = {label: 0 for label in overview.labels}
    for split in overview.splits.values():
        for label, n in split.class_counts.items():
            counts[label] = counts.get(label, 0) + n
    return counts


def split_table(overview: DatasetOverview) -> Table:
    labels = overview.labels
    if len(labels) > LISTED_CLASSES:
        rows = [
            [plain(split), num(info.n, "d"), num(sum(n > 0 for n in info.class_counts.values()), "d")]
            for split, info in overview.splits.items()
        ]
        return Table(["split", "texts", "classes with texts"], rows, "splits")
    rows = [
        [plain(split), num(info.n, "d")] + [num(info.class_counts.get(label), "d") for label in labels]
        for split, info in overview.splits.items()
    ]
    return Table(["split", "texts", *labels], rows, "splits")


def class_count_table(overview: DatasetOverview, shown: list[str], note: str | None) -> Table:
    splits = overview.splits
    rows = [
        [plain(label)] + [num(info.class_counts.get(label), "d") for info in splits.values()]
        for label in shown
    ]
    return Table(["class", *splits], rows, "class-counts", note)


def token_length_views(overview: DatasetOverview) -> list[TokenLengths]:
    views = []
    for checkpoint, lengths in overview.token_lengths.items():
        stats = lengths.per_class
        shown, note = class_sample({label: s.get("n", 0) for label, s in stats.items()}, "texts")
        rows = [
            [plain(label), num(stats[label].get("n"), "d")]
            + [num(stats[label].get(key), ".1f") for key in ("mean", "min", "q1", "med", "q3", "max")]
            for label in shown
        ]
        table = Table(
            ["class", "texts", "mean", "min", "q1", "median", "q3", "max"], rows, "token-lengths", note
        )
        views.append(
            TokenLengths(
                one_line(checkpoint),
                lengths.split,
                lengths.max_length,
                table,
                {label: stats[label] for label in shown},
            )
        )
    return views


def exceeding_table(overview: DatasetOverview) -> Table | None:
    if not overview.token_lengths:
        return None
    rows = [
        [
            plain(checkpoint),
            num(info.max_length, "d"),
            plain(", ".join(f"{split}: {n}" for split, n in info.n_exceeding.items()) or MISSING),
        ]
        for checkpoint, info in overview.token_lengths.items()
    ]
    return Table(["checkpoint", "max length", "texts over max length"], rows, "exceeding")


def duplicates_table(duplicates: Duplicates, limit: int) -> Table | None:
    """The first ``limit`` texts with conflicting gold labels, with a note when more exist."""
    listed = duplicates.examples
    if not listed:
        return None
    rows = [
        [text_cell(e.text), plain(", ".join(f"{x.split}: {x.label}" for x in e.labels))]
        for e in listed[:limit]
    ]
    total = max(duplicates.n_conflicting, len(listed))
    note = None
    if total > len(rows):
        where = (
            "all are in the results JSON"
            if len(listed) == total
            else f"the results JSON lists {len(listed):,}"
        )
        note = f"{len(rows)} of {total:,} shown; {where}."
    return Table(["text", "labels (split: label)"], rows, "duplicates", note)


def dataset_views(doc: SuiteDocument) -> list[DatasetView]:
    views = []
    for name, overview in doc.datasets.items():
        shown, note = class_sample(totals(overview), "texts")
        duplicates = overview.duplicates or Duplicates()
        views.append(
            DatasetView(
                name=one_line(name),
                splits=split_table(overview),
                class_counts=class_count_table(overview, shown, note) if note else None,
                distribution={
                    split: {label: info.class_counts.get(label, 0) for label in shown}
                    for split, info in overview.splits.items()
                },
                token_lengths=token_length_views(overview),
                exceeding=exceeding_table(overview),
                n_conflicting=duplicates.n_conflicting,
                duplicates=duplicates_table(duplicates, ROW_LIMIT),
                duplicates_brief=duplicates_table(duplicates, DUPLICATES_IN_MARKDOWN),
                warnings=data_warnings(overview),
            )
        )
    return views


# --- pairs ---


def pair_facts(pair: PairRecord) -> list[tuple[str, str]]:
    timings = pair.timings.model_dump() if pair.timings else {}
    source, training = pair.checkpoint_source, pair.training_throughput
    facts = [
        ("Status", pair.status),
        ("Reason", pair.reason),
        ("Dataset", pair.dataset),
        ("Fitted on", pair.train_split),
        ("Evaluated on", f"{pair.split or MISSING} ({fmt(pair.n_examples, 'd')} texts)"),
        ("Texts truncated", fmt(pair.n_truncated, "d") if pair.n_truncated is not None else None),
        ("Checkpoint source", f"{source.kind}: {source.location}" if source else None),
        ("Stored weights", stored_weights(source.stored_dtype) if source and source.stored_dtype else None),
        ("Mean loss", fmt(pair.metrics.loss_mean, ".3f")),
        ("Runtime", str(pair.runtime) if pair.runtime else None),
        ("Timings", timings_text(timings, pair.cached)),
        ("Training", training_text(training, pair.cached) if training else None),
        ("Approach parameters", ", ".join(f"{k}={v}" for k, v in pair.approach.params.items()) or None),
    ]
    return [(name, one_line(value)) for name, value in facts if value is not None]


def timings_text(timings: dict, cached: bool | None) -> str | None:
    """``fit 1.20 s, predict 0.30 s, score 0.01 s``, saying when an earlier run measured them."""
    if not timings:
        return None
    text = ", ".join(f"{stage} {fmt_seconds(seconds)}" for stage, seconds in timings.items())
    return text + (f" ({CACHED}: measured by the run that computed the predictions)" if cached else "")


def training_text(t: TrainingThroughput, cached: bool | None) -> str:
    """``500 steps over 32,000 texts in 100.9 s (cpu, bf16, 2 threads): 456 useful GFLOP/s, 48.7% of the
    GEMM peak (934 GFLOP/s, best of 3 readings); padding 3.7% of the batched tokens``, saying when an
    earlier run measured it (the pair's predictions, and the record with them, came from the cache)."""
    readings = len(t.gemm_peak_readings)
    peak = f"{t.gemm_peak_gflops:,.0f} GFLOP/s" + (f", best of {readings} readings" if readings > 1 else "")
    share = f"{t.peak_fraction:.1%} of the GEMM peak" if t.peak_fraction is not None else "GEMM peak"
    padding = 1 - t.tokens / t.padded_tokens if t.padded_tokens else 0.0
    text = (
        f"{t.steps:,} steps over {t.texts:,} texts in {t.train_s:.1f} s ({t.device}, {t.dtype}, "
        f"{t.threads} threads): {t.gflops:,.0f} useful GFLOP/s, {share} ({peak}); "
        f"padding {padding:.1%} of the batched tokens"
    )
    return text + (f" ({CACHED}: measured by the run that trained the model)" if cached else "")


def stored_weights(dtype: str) -> str:
    return dtype if dtype == "fp32" else f"{dtype} (loaded as fp32)"


def fmt_seconds(value) -> str:
    return f"{value:.2f} s" if is_number(value) else str(value)


def gates_table(gates: list[GateResult]) -> Table | None:
    if not gates:
        return None
    rows = [
        [plain(g.metric), num(g.threshold, ".3f"), num(g.value, ".3f"), plain("✓" if g.passed else "✗")]
        for g in gates
    ]
    return Table(["metric", "minimum", "value", "passed"], rows, "gates")


def confusion_table(labels: list[str], matrix: list[list[float]]) -> Table:
    rows = [[plain(gold)] + [num(v, ".2f") for v in row] for gold, row in zip(labels, matrix, strict=False)]
    return Table(["gold \\ predicted", *labels], rows, "confusion")


def top_confusions(labels: list[str], matrix: list[list[float]], per_class: dict[str, ClassScores]) -> Table:
    """The :data:`TOP_CONFUSIONS` largest off-diagonal cells: gold, predicted, share of gold, texts."""
    cells = ((v, i, j) for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j and v > 0)
    largest = heapq.nlargest(TOP_CONFUSIONS, cells, key=lambda c: (c[0], -c[1], -c[2]))

    def name(index: int) -> str:
        return labels[index] if index < len(labels) else f"#{index}"

    def texts(share: float, gold: str) -> int | None:
        scores = per_class.get(gold)
        return round(share * scores.support) if scores is not None else None

    rows = [
        [plain(name(i)), plain(name(j)), num(v, ".3f"), num(texts(v, name(i)), ",d")] for v, i, j in largest
    ]
    note = (
        f"{len(matrix):,} classes: the {TOP_CONFUSIONS} largest off-diagonal cells of the row-normalized "
        "confusion matrix are shown; the full matrix is in the results JSON."
    )
    return Table(["gold", "predicted", "share of gold", "texts"], rows, "top-confusions", note)


def drawable(labels: list[str], matrix: list[list[float]]) -> bool:
    return bool(matrix) and len(matrix) == len(labels) and all(len(row) == len(matrix) for row in matrix)


def per_class_table(per_class: dict[str, ClassScores]) -> Table:
    shown, note = class_sample({label: s.support for label, s in per_class.items()}, "support")
    rows = [
        [plain(label)]
        + [num(getattr(per_class[label], k), ".3f") for k in ("precision", "recall", "f1")]
        + [num(per_class[label].support, "d")]
        for label in shown
    ]
    return Table(["class", "precision", "recall", "F1", "support"], rows, "per-class", note)


def examples_table(examples: list[Example], kind: str) -> Table | None:
    if not examples:
        return None
    listed, note = capped(examples, ROW_LIMIT, "examples")
    rows = [
        [
            num(e.index, "d"),
            text_cell(e.text),
            plain(e.gold),
            plain(e.predicted),
            num(e.loss, ".3f"),
            num(e.p_gold, ".3f"),
        ]
        for e in listed
    ]
    return Table(["#", "text", "gold", "predicted", "loss", "p(gold)"], rows, f"examples {kind}", note)


def calibration_table(calibration: Calibration | None) -> Table | None:
    if calibration is None or not calibration.bins:
        return None
    bins, note = capped(calibration.bins, ROW_LIMIT, "bins")
    rows = [
        [
            plain(f"{b.low:.2f}–{b.high:.2f}"),
            num(b.count, "d"),
            num(b.confidence, ".3f"),
            num(b.accuracy, ".3f"),
        ]
        for b in bins
    ]
    return Table(["confidence bin", "texts", "mean confidence", "accuracy"], rows, "calibration", note)


def suspects_view(suspects: LabelSuspects | None) -> SuspectsView | None:
    if suspects is None:
        return None
    shown, note = class_sample(suspects.per_class, "suspects")
    per_class = Table(
        ["class", "suspects"],
        [[plain(label), num(suspects.per_class[label], "d")] for label in shown],
        "suspects-per-class",
        note,
    )
    listed, note = capped(suspects.examples, ROW_LIMIT, "suspects")
    rows = [
        [
            num(e.index, "d"),
            text_cell(e.text),
            plain(e.gold),
            plain(e.predicted),
            num(e.p_gold, ".3f"),
            plain("yes" if e.conflicting else "no"),
        ]
        for e in listed
    ]
    examples = Table(
        ["#", "text", "gold", "predicted", "p(gold)", "conflicting labels"], rows, "examples suspects", note
    )
    return SuspectsView(one_line(suspects.rule or MISSING), per_class, examples)


def baseline_table(baseline: BaselineResult | None) -> Table | None:
    if baseline is None or not baseline.checks:
        return None
    rows = [
        [
            plain(c.metric),
            num(c.baseline, ".3f"),
            num(c.value, ".3f"),
            num(c.tolerance, ".3f"),
            plain("✓" if c.passed else "✗"),
        ]
        for c in baseline.checks
    ]
    return Table(["metric", "baseline", "value", "tolerance", "passed"], rows, "baseline")


def pair_view(index: int, pair: PairRecord) -> PairView:
    metrics = pair.metrics
    labels = pair.labels or list(metrics.per_class)
    matrix = metrics.confusion_matrix
    if len(matrix) > LISTED_CLASSES:
        caption = "Largest confusions (row-normalized: share of the gold class's texts):"
        confusion = top_confusions(labels, matrix, metrics.per_class)
    else:
        caption = "Confusion matrix (row-normalized: each gold row sums to 1):"
        confusion = confusion_table(labels, matrix)
    examples = pair.examples
    calibration = [
        f"ECE {metrics.ece:.3f}" if metrics.ece is not None else None,
        f"Brier {metrics.brier:.3f}" if metrics.brier is not None else None,
    ]
    return PairView(
        anchor=f"pair-{index}",
        title=title(pair.checkpoint, pair.approach.id),
        record=pair,
        facts=pair_facts(pair),
        gates=gates_table(pair.gates),
        confusion_caption=caption,
        confusion=confusion,
        matrix=matrix if drawable(labels, matrix) else None,
        labels=labels,
        per_class=per_class_table(metrics.per_class),
        worst=examples_table(examples.worst_loss if examples else [], "worst-loss"),
        best=examples_table(examples.best_loss if examples else [], "best-loss"),
        calibration_summary=" · ".join(c for c in calibration if c) or None,
        calibration=calibration_table(pair.calibration),
        suspects=suspects_view(pair.label_suspects),
        baseline_status=pair.baseline.status if pair.baseline else None,
        baseline=baseline_table(pair.baseline),
    )


# --- comparisons and performance ---


def comparisons_table(doc: SuiteDocument) -> Table | None:
    return comparison_table(doc.comparisons)


def performance_table(doc: SuiteDocument) -> Table | None:
    if not doc.performance:
        return None
    rows = []
    for r in doc.performance:
        extra = r.model_extra or {}
        rows.append(
            [
                plain(r.checkpoint),
                plain(r.task),
                plain(r.device),
                plain(r.dtype),
                num(r.batch_size, "d"),
                num(r.texts_per_s, ",.1f"),
                num(r.tokens_per_s, ",.0f"),
            ]
            + [num(r.latency_ms.get(q), ".1f") for q in ("p50", "p90", "p95", "p99")]
            + [
                num(extra.get("peak_rss_mb"), ",.0f"),
                num(extra.get("peak_cuda_mb"), ",.0f"),
                num(r.speedup_vs_cpu, ".2f"),
                num((extra.get("latency_per_text_ms") or {}).get("p50"), ".1f"),
                num(r.ratio, ".3g"),
                plain(timing_gate(r.baseline)),
                plain(busy(extra.get("contention"))),
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
        "p50 ms/text (batch 1)",
        "ratio",
        "vs baseline",
        "busy machine",
    ]
    shared = sorted({r.measured_in for r in doc.performance if r.measured_in})
    note = (
        f"Rows also in {', '.join(shared)}: measured once in this run, there, and gated here against "
        "this suite's baseline." if shared else None
    )
    return Table(headers, rows, "performance", note)


def gpu_vs_cpu_table(doc: SuiteDocument) -> Table | None:
    """Each GPU record beside the CPU fp32 record of the same checkpoint, task and batch size: texts/s,
    per-text latency at batch 1 (p50) and the speedups; None unless both devices were timed."""
    cpu = {
        (r.checkpoint, r.task, r.batch_size): r
        for r in doc.performance
        if r.device == "cpu" and r.dtype == "fp32"
    }
    rows = []
    for r in doc.performance:
        base = cpu.get((r.checkpoint, r.task, r.batch_size))
        if r.device == "cpu" or base is None:
            continue
        gpu_p50, cpu_p50 = (
            ((x.model_extra or {}).get("latency_per_text_ms") or {}).get("p50") for x in (r, base)
        )
        rows.append(
            [
                plain(r.checkpoint),
                plain(r.task),
                num(r.batch_size, "d"),
                plain(f"{r.device} {r.dtype}"),
                num(base.texts_per_s, ",.1f"),
                num(r.texts_per_s, ",.1f"),
                num(r.texts_per_s / base.texts_per_s, ".2f"),
                num(cpu_p50, ".2f"),
                num(gpu_p50, ".2f"),
                num(cpu_p50 / gpu_p50 if cpu_p50 and gpu_p50 else None, ".2f"),
            ]
        )
    headers = [
        "checkpoint",
        "task",
        "batch",
        "GPU setting",
        "CPU fp32 texts/s",
        "GPU texts/s",
        "texts/s speedup",
        "CPU p50 ms/text (batch 1)",
        "GPU p50 ms/text (batch 1)",
        "batch-1 speedup",
    ]
    return Table(headers, rows, "gpu-vs-cpu") if rows else None


def timing_gate(result: dict | None) -> str:
    """``ok (0.93× baseline ratio)``, ``regressed (0.51×, measured twice)``, ``new``, ``not gated: <why>``."""
    if not result:
        return MISSING
    status = result.get("status")
    if status in ("ok", "regressed"):
        share = result["value"] / result["baseline"]
        again = ", re-measured" if len(result.get("values", ())) > 1 else ""
        return f"{status} ({share:.2f}× baseline ratio{again})"
    if status == "not-gated":
        return f"not gated: {result.get('reason', 'no comparable baseline')}"
    return str(status)


def busy(contention: dict | None) -> str:
    """``yes (56% waiting for a CPU)`` when the wall-clock figures were measured on a busy machine."""
    if not contention or contention.get("seen") is None:
        return MISSING
    share = contention.get("runqueue_wait_share") or 0.0
    return f"yes ({share:.0%} waiting for a CPU)" if contention["seen"] else "no"


def build_report(doc: SuiteDocument) -> Report:
    """Everything the report shows, from a suite document."""
    from .budget import budget_view  # these build on this module's cells and tables
    from .checkpoints import checkpoint_view  # these build on this module's cells and tables
    from .curves import learning_curve_view
    from .runtimes import runtime_views

    return Report(
        suite=one_line(doc.suite or MISSING),
        facts=header_facts(doc),
        versions=versions(doc),
        summary=summary(doc),
        leaderboard=leaderboard(doc),
        datasets=dataset_views(doc),
        pairs=[pair_view(i, p) for i, p in enumerate(doc.evaluated(), start=1)],
        comparisons=comparisons_table(doc),
        performance=performance_table(doc),
        gpu_vs_cpu=gpu_vs_cpu_table(doc),
        runtimes=runtime_views(doc),
        learning_curve=learning_curve_view(doc),
        budget=budget_view(doc.phases),
        checkpoints=checkpoint_view(doc),
    )
