"""Suite documents: merging what each process produced, and where the files of a run go."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from .curves import CurvePoint
from .io import validate, write_json
from .model import (
    STATUS_ORDER,
    CacheSummary,
    Comparison,
    DatasetOverview,
    NodeOutcome,
    PairRecord,
    PhaseRecord,
    Provenance,
    Shard,
    SuiteDocument,
    TimingRecord,
)
from .runtimes import RuntimeRecord

_PLAIN = re.compile(r"[A-Za-z0-9._/-]+")
_AMBIGUOUS = re.compile(r"--|-/|/-")  # these would read back as another "/"


def slug(text: str) -> str:
    """A file-name part for ``text``: ``/`` becomes ``--``; a name that maps ambiguously (or is too
    long to keep whole) gets a hash, so two checkpoints never share a file (``a b`` and ``a+b``,
    ``a/b`` and ``a--b``, ``a-/b`` and ``a/-b``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "--", text).strip("-.") or "x"
    readable = _PLAIN.fullmatch(text) and not _AMBIGUOUS.search(text) and safe == text.replace("/", "--")
    if not readable or len(safe) > 120:
        safe = safe[:111] + "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return safe


def record_path(report_dir: Path, record: PairRecord) -> Path:
    """``<report-dir>/<suite>/<checkpoint>__<approach id>.json``."""
    return Path(report_dir) / slug(record.suite) / f"{slug(record.checkpoint)}__{slug(record.approach.id)}.json"


def merge_pair_records(a: PairRecord, b: PairRecord) -> PairRecord:
    """One pair seen by two processes (xdist workers): the evaluated record, the worst status, all gates."""
    merged = a if a.metrics is not None or b.metrics is None else b
    worst = b if STATUS_ORDER[b.status] > STATUS_ORDER[a.status] else a
    return merged.model_copy(update={"status": worst.status, "reason": worst.reason, "gates": a.gates + b.gates})


def merge_curve_points(a: CurvePoint, b: CurvePoint) -> CurvePoint:
    """One curve point seen by two processes: the worst status and all gates."""
    worst = b if STATUS_ORDER[b.status] > STATUS_ORDER[a.status] else a
    return a.model_copy(update={"status": worst.status, "reason": worst.reason, "gates": a.gates + b.gates})


def sorted_points(points) -> list[CurvePoint]:
    """By checkpoint, approach, then size: references first, then examples per class, then ``all``."""

    def size(point: CurvePoint) -> tuple:
        return (0, 0) if point.shots is None else (2, 0) if point.shots == "all" else (1, point.shots)

    return sorted(points, key=lambda p: (p.checkpoint, p.approach, size(p)))


def suite_documents(
    fragments: list[dict], run_id: str, compare: Callable[[list[PairRecord]], list[Comparison]]
) -> list[SuiteDocument]:
    """Merge what each process produced (plain JSON data) into one validated document per suite;
    ``compare(pairs)`` gives its comparisons (:func:`harness.engine.compare.compare_records`)."""
    parts: dict[str, dict] = {}
    for number, fragment in enumerate(fragments):
        for suite, part in fragment["suites"].items():
            doc = parts.setdefault(
                suite,
                {"environment": fragment["environment"], "cache": {**fragment["cache"], "hits": 0, "stores": 0},
                 "datasets": {}, "pairs": {}, "performance": [], "runtimes": {}, "phases": []},
            )
            for name, overview in part["datasets"].items():
                overview = validate(overview, DatasetOverview, f"process {number}: datasets.{name}")
                if name in doc["datasets"]:
                    doc["datasets"][name].token_lengths.update(overview.token_lengths)
                else:
                    doc["datasets"][name] = overview
            for i, data in enumerate(part["pairs"]):
                record = validate(data, PairRecord, f"process {number}: {suite}.pairs[{i}]")
                seen = doc["pairs"].get(record.key)
                doc["pairs"][record.key] = merge_pair_records(seen, record) if seen else record
            for i, data in enumerate(part.get("learning_curves", [])):
                point = validate(data, CurvePoint, f"process {number}: {suite}.learning_curves[{i}]")
                seen = doc.setdefault("curves", {}).get(point.key)
                doc["curves"][point.key] = merge_curve_points(seen, point) if seen else point
            doc["performance"] += [validate(r, TimingRecord, f"process {number}: performance") for r in part["performance"]]
            for i, data in enumerate(part.get("runtimes", [])):  # per runtime, the first record
                record = validate(data, RuntimeRecord, f"process {number}: {suite}.runtimes[{i}]")
                doc["runtimes"].setdefault(record.key, record)
            doc["phases"] += [
                validate(r, PhaseRecord, f"process {number}: {suite}.phases[{i}]")
                for i, r in enumerate(part.get("phases", []))
            ]
            for count in ("hits", "stores"):
                doc["cache"][count] += fragment["cache"][count]
            doc.setdefault("tests", []).extend(
                validate(t, NodeOutcome, f"process {number}: {suite}.tests") for t in part.get("tests", [])
            )
            if "provenance" in part:  # every process of a run read the same code; datasets add up
                seen = validate(part["provenance"], Provenance, f"process {number}: {suite}.provenance")
                if doc.get("provenance") is not None:
                    seen.data = {**doc["provenance"].data, **seen.data}
                doc["provenance"] = seen
            if part.get("shard") is not None:
                doc["shard"] = validate(part["shard"], Shard, f"process {number}: {suite}.shard")
    documents = []
    for suite in sorted(parts):
        doc = parts[suite]
        pairs = [doc["pairs"][key] for key in sorted(doc["pairs"])]
        documents.append(
            SuiteDocument(
                suite=suite,
                run_id=run_id,
                environment=doc["environment"],
                cache=CacheSummary.model_validate(doc["cache"]),
                datasets=doc["datasets"],
                pairs=pairs,
                performance=add_speedups(doc["performance"]),
                learning_curves=sorted_points(doc.get("curves", {}).values()),
                comparisons=compare(pairs),
                runtimes=list(doc["runtimes"].values()),
                phases=doc["phases"],
                tests=sorted(doc.get("tests", []), key=lambda t: t.nodeid),
                provenance=doc.get("provenance"),
                shard=doc.get("shard"),
            )
        )
    return documents


def add_speedups(records: list[TimingRecord]) -> list[TimingRecord]:
    """Set ``speedup_vs_cpu`` on every non-CPU record: its texts/s over the CPU fp32 record's of the
    same checkpoint, task and batch size (None when there is none)."""
    cpu = {
        (r.checkpoint, r.task, r.batch_size): r.texts_per_s for r in records if r.device == "cpu" and r.dtype == "fp32"
    }
    for record in records:
        if record.device != "cpu":
            base = cpu.get((record.checkpoint, record.task, record.batch_size))
            record.speedup_vs_cpu = record.texts_per_s / base if base else None
    return records


def write_suite(report_dir: Path, document: SuiteDocument) -> list[Path]:
    """The suite's results document and one record file per pair."""
    paths = [write_json(record_path(report_dir, record), record) for record in document.pairs]
    return [write_json(Path(report_dir) / f"{slug(document.suite)}.json", document), *paths]
