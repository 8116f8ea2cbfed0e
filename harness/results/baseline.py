"""The regression baseline file: the metrics each pair must keep and the throughput to compare with.

A suite's baseline lives next to it, ``suites/baselines/<suite>.json`` (:class:`BaselineDocument`);
this module reads and writes it. The gates that compare a run with it are in
:mod:`harness.engine.gates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .io import ResultsError, read_json, write_json
from .model import METRICS, BaselineDocument, BaselinePair, BaselineTiming, Machine, SuiteDocument


class BaselineError(ResultsError):
    """A baseline file or a tolerance that cannot be used; the message is one line."""


def baseline_path(suite_file, suite: str) -> Path:
    """``<directory of the suite module>/baselines/<suite>.json``."""
    return Path(suite_file).parent / "baselines" / f"{suite}.json"


def machine_fingerprint(environment: dict) -> Machine:
    """What timings depend on: CPU model, the instruction set torch uses, GPU name and torch version."""
    versions = environment.get("versions") or {}
    return Machine(
        cpu=environment.get("cpu"),
        gpu=environment.get("gpu"),
        torch=versions.get("torch"),
        cpu_capability=environment.get("cpu_capability"),
    )


@dataclass
class Baseline:
    """A loaded baseline: entries keyed by (checkpoint, approach id) and by timing key."""

    path: Path
    suite: str
    pairs: dict[tuple[str, str], BaselinePair]
    performance: dict[tuple, BaselineTiming]


def load(path, suite: str) -> Baseline:
    """The baseline at ``path``; an empty one when the file does not exist."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return Baseline(path, suite, {}, {})
    try:
        document = read_json(path, BaselineDocument)
    except ResultsError as e:
        raise BaselineError(str(e)) from None
    if document.suite != suite:
        raise BaselineError(f"{path}: suite: expected {suite!r}, got {document.suite!r}")
    return Baseline(
        path,
        suite,
        {entry.key: entry for entry in document.pairs},
        {entry.key: entry for entry in document.performance},
    )


def updated(baseline: Baseline, document: SuiteDocument) -> BaselineDocument:
    """The baseline with this run's evaluated pairs and timings replacing their entries; entries this
    run did not produce are kept."""
    pairs = dict(baseline.pairs)
    for record in document.evaluated():
        pairs[record.key] = BaselinePair(
            checkpoint=record.checkpoint,
            approach=record.approach.id,
            n_examples=record.n_examples,
            metrics={name: round(float(getattr(record.metrics, name)), 6) for name in METRICS},
        )
    timings = dict(baseline.performance)
    machine = machine_fingerprint(document.environment)
    for record in document.performance:
        if record.texts_per_s <= 0:
            continue  # nothing to compare with later
        timings[record.key] = BaselineTiming(
            checkpoint=record.checkpoint,
            task=record.task,
            device=record.device,
            dtype=record.dtype,
            batch_size=record.batch_size,
            texts_per_s=record.texts_per_s,
            normalized_throughput=record.normalized_throughput,
            ratio=record.ratio,
            machine=machine,
        )
    return BaselineDocument(
        suite=baseline.suite,
        pairs=[pairs[key] for key in sorted(pairs)],
        performance=[timings[key] for key in sorted(timings, key=repr)],
    )


def update_file(path, document: SuiteDocument) -> Path:
    """Write a run's pairs and timings into the baseline at ``path`` (a file that cannot be used is replaced)."""
    try:
        existing = load(path, document.suite)
    except BaselineError:
        existing = Baseline(Path(path), document.suite, {}, {})
    return write_json(path, updated(existing, document))
