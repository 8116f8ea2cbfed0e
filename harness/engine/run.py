"""One run of suites: :class:`SuiteRun` loads each dataset, resolves each checkpoint and evaluates each pair
once. The pytest plugin holds one per run; ``harness export`` and ``harness predict`` open one
:class:`Pair` of a suite through it, so a command and a pytest run build the runtime, resolve the
checkpoint, evaluate (through the same cache keys) and fail with the same one-line errors."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .approaches import ApproachSpec
from . import gates
from .budget import Budget, for_pair, phase
from .cache import Cache
from .checkpoints import CheckpointUnavailable, ResolvedCheckpoint, resolve_checkpoint, select_device
from .data import DataSource, load_dataset, resolve_source
from .environment import environment
from ..errors import HarnessError
from .evaluation import Evaluation, evaluate, record_fields
from .inference import model_max_length
from .overview import dataset_overview, token_lengths
from ..results import STATUS_ORDER, TimingRecord, baseline
from ..results.model import BaselineResult, GateResult
from ..results.runtimes import RuntimeRecord
from .runtime import Runtime
from .suite import Suite, SuiteError, named_pair, named_splits


@dataclass
class Settings:
    benchmark: bool = False
    report_dir: Path = Path("reports")
    device: str = "cpu"
    dtype: str = "fp32"
    data_dir: str | None = None
    model_dir: str | None = None
    root: Path = Path(".")
    cache_dir: Path | None = None  # None: the user's cache directory
    cache_mode: str = "use"  # use | refresh | off
    update_baseline: bool = False  # write this run's results as the baselines instead of checking them


@dataclass
class PairOutcome:
    """The status of one (suite, checkpoint, approach) across its tests, and its evaluation."""

    suite: str
    checkpoint: str
    approach: ApproachSpec
    status: str = "skipped"
    reason: str | None = None
    evaluation: Evaluation | None = None
    gates: list[GateResult] = field(default_factory=list)
    tested: bool = False
    baseline: BaselineResult | None = None  # None when not checked

    def update(self, status: str, reason: str | None) -> None:
        """Keep the worst outcome (failed > passed > skipped) and the reason that goes with it."""
        if not self.tested or STATUS_ORDER[status] > STATUS_ORDER[self.status]:
            self.status, self.reason = status, reason
        self.tested = True

    def record(self, env: dict) -> dict:
        """The pair record (docs/results.md) as JSON-ready data."""
        spec = self.approach
        record = {
            "suite": self.suite,
            "checkpoint": self.checkpoint,
            "approach": spec.info(spec.params_for(self.checkpoint)),
            "status": self.status,
            "reason": self.reason,
            "gates": [g.to_json() for g in self.gates],
            "split": None,
            "n_examples": None,
            "metrics": None,
            "timings": None,
            "environment": env,
        }
        if self.baseline is not None:
            record["baseline"] = self.baseline.to_json()
        if self.evaluation is not None:
            record.update(record_fields(self.evaluation))
        return record


class SuiteRun:
    """Loads each dataset, resolves each checkpoint and runs each evaluation once per run."""

    def __init__(self, settings: Settings):
        # --device auto becomes the device it selects (cuda or cpu), for the runtime and the environment
        self.settings = dataclasses.replace(settings, device=str(select_device(settings.device)))
        cache = Cache(settings.cache_dir, settings.cache_mode)
        self.runtime = Runtime(device=self.settings.device, dtype=settings.dtype, cache=cache)
        self._datasets: dict[str, object] = {}
        self._sources: dict[int, DataSource] = {}
        self._checkpoints: dict[str, ResolvedCheckpoint | CheckpointUnavailable] = {}
        self._evaluations: dict[tuple, Evaluation] = {}
        self.outcomes: dict[tuple[str, str, str], PairOutcome] = {}
        self.overviews: dict[str, dict] = {}  # dataset name → overview (token lengths per checkpoint)
        self.suite_datasets: dict[str, set[str]] = {}  # suite → names of the datasets it evaluated
        self.performance: dict[str, list[TimingRecord]] = {}  # suite → timing records
        self.baseline_files: dict[str, Path] = {}  # suite → its baseline file
        self._baselines: dict[str, baseline.Baseline] = {}
        self._curves: dict[tuple, list] = {}
        self.learning_curves: dict[str, list] = {}  # suite → its points (results.curves.CurvePoint)
        self._machine = None
        self._runtimes: dict[tuple[str, str, str], list[RuntimeRecord] | Exception] = {}  # per pair
        self.budget = Budget().start()  # where the time went: every phase (harness.engine.budget)

    @property
    def cache(self) -> Cache:
        return self.runtime.cache

    def dataset(self, name: str, labels=None):
        """The ``DatasetDict`` for ``name`` (a known name, hub id or local directory)."""
        if name not in self._datasets:
            with phase("dataset load", detail=name):
                dataset = load_dataset(name, self.settings.data_dir, labels)
            self._datasets[name] = dataset
            self._sources[id(dataset)] = resolve_source(name, self.settings.data_dir)
        return self._datasets[name]

    def data_digests(self) -> dict[str, str]:
        """sha256 of each dataset this run loaded, by name (:mod:`harness.engine.provenance`)."""
        from .provenance import dataset_digest

        return {name: dataset_digest(dataset) for name, dataset in self._datasets.items()}

    def source_of(self, dataset) -> DataSource:
        return self._sources.get(id(dataset)) or DataSource("dataset", "in-memory", "")

    def resolve(self, checkpoint_id: str) -> ResolvedCheckpoint:
        """Resolve once; raises ``CheckpointUnavailable`` (the fixture turns it into a skip)."""
        if checkpoint_id not in self._checkpoints:
            try:
                self._checkpoints[checkpoint_id] = resolve_checkpoint(checkpoint_id, self.settings.model_dir)
            except CheckpointUnavailable as e:
                self._checkpoints[checkpoint_id] = e
        found = self._checkpoints[checkpoint_id]
        if isinstance(found, CheckpointUnavailable):
            raise CheckpointUnavailable(str(found))
        return found

    def pair(
        self,
        suite: Suite,
        checkpoint_id: str | None,
        approach_id: str | None,
        train_split: str | None = None,
        eval_split: str | None = None,
    ) -> Pair:
        """One pair of ``suite`` named as a command names it (:func:`harness.engine.suite.named_pair`)."""
        return Pair(self, suite, checkpoint_id, approach_id, train_split, eval_split)

    def check_runtime(self, spec: ApproachSpec, checkpoint: ResolvedCheckpoint) -> None:
        """A device or dtype (the run's, or the approach's override) that this machine cannot run is one
        line naming the pair."""
        try:
            self.runtime.replace(**spec.runtime).torch_device()
        except ValueError as e:
            raise SuiteError(f"{spec.id} · {checkpoint.short_name}: {e}") from None

    def outcome(self, suite: str, checkpoint_id: str, spec: ApproachSpec) -> PairOutcome:
        key = (suite, checkpoint_id, spec.id)
        if key not in self.outcomes:
            self.outcomes[key] = PairOutcome(suite, checkpoint_id, spec)
        return self.outcomes[key]

    def evaluate(
        self, suite: str, dataset, checkpoint: ResolvedCheckpoint, spec: ApproachSpec, train_split: str, split: str
    ) -> Evaluation:
        """The pair's :meth:`evaluation`, recorded for the suite's results with its dataset's overview."""
        evaluation = self.evaluation(suite, dataset, checkpoint, spec, train_split, split)
        source = self.source_of(dataset)
        with for_pair(suite, None, None):
            self._describe(source.name, dataset, checkpoint, train_split)
        self.suite_datasets.setdefault(suite, set()).add(source.name)
        self.outcome(suite, checkpoint.id, spec).evaluation = evaluation
        return evaluation

    def evaluation(
        self, suite: str, dataset, checkpoint: ResolvedCheckpoint, spec: ApproachSpec, train_split: str,
        split: str,
    ) -> Evaluation:
        """Evaluate the pair once per run (every seed of a seeded one); every test of the pair shares it."""
        source = self.source_of(dataset)
        params = repr(spec.params_for(checkpoint.id))
        key = (id(dataset), checkpoint.id, spec.id, params, spec.seeds, train_split, split)
        if key not in self._evaluations:
            pair = (suite, source.name, dataset, checkpoint, spec)
            with for_pair(suite, checkpoint.id, spec.id):
                if spec.seeds:
                    evaluation = self._evaluate_seeds(*pair, train_split, split)
                else:
                    evaluation = evaluate(*pair, self.runtime, train_split, split)
            evaluation.dataset_source = {"kind": source.kind, "location": source.location}
            self._evaluations[key] = evaluation
        return self._evaluations[key]

    def _evaluate_seeds(self, suite, name, dataset, checkpoint, spec, train_split, split) -> Evaluation:
        """The pair fitted once per seed: the first seed's evaluation, carrying every seed's runs."""
        from .curves import evaluate_seeds, seed_runs

        evaluations = evaluate_seeds(suite, name, dataset, checkpoint, spec, self.runtime, train_split, split)
        first = evaluations[0]
        first.seed_runs = seed_runs(evaluations, spec.seeds, len(dataset[train_split]))
        return first

    def learning_curve(
        self, suite: str, dataset, checkpoint, spec: ApproachSpec, shots, seeds, train_split: str, split: str
    ) -> list:
        """The approach's learning-curve points (``harness.engine.curves``), computed once per run."""
        from .curves import curve_points

        source = self.source_of(dataset)
        sizes = tuple(map(str, spec.shots or shots))
        params = repr(spec.params_for(checkpoint.id))
        key = (suite, id(dataset), checkpoint.id, spec.id, params, sizes, tuple(seeds), train_split, split)
        if key not in self._curves:
            points = curve_points(
                suite, source.name, dataset, checkpoint, spec, self.runtime, shots, seeds, train_split, split
            )
            with for_pair(suite, None, None):
                self._describe(source.name, dataset, checkpoint, train_split)
            self.suite_datasets.setdefault(suite, set()).add(source.name)
            self.learning_curves.setdefault(suite, []).extend(points)
            self._curves[key] = points
        return self._curves[key]

    def _describe(self, name: str, dataset, checkpoint: ResolvedCheckpoint, train_split: str = "train"):
        """The dataset's overview for the report (label and leakage checks against ``train_split``),
        with token lengths under each checkpoint's tokenizer."""
        if name not in self.overviews:
            with phase("dataset overview", detail=name):
                self.overviews[name] = dataset_overview(name, dataset, train_split)
        lengths = self.overviews[name]["token_lengths"]
        if checkpoint.id not in lengths:
            with phase("dataset overview", detail=f"{name} token lengths"):
                tokenizer = checkpoint.load_tokenizer()
                limit = model_max_length(tokenizer, checkpoint.config().get("max_position_embeddings"))
                lengths[checkpoint.id] = token_lengths(dataset, tokenizer, limit)

    def runtimes(self, suite: str, evaluation: Evaluation, names, train, gates, settings) -> list[RuntimeRecord]:
        """Every runtime in ``names`` of the suite's pair (and the torch-fp32 reference), measured once per
        run; ``train`` is (texts, label ids) to fit the pair again when its predictions came from the cache."""
        from .deploy.pair import measure_pair

        key = (suite, evaluation.checkpoint.id, evaluation.approach.id)
        if key not in self._runtimes:
            try:
                with for_pair(*key), phase("runtime measurement"):
                    self._runtimes[key] = measure_pair(evaluation, names, *train, gates, settings, suite=suite)
            except HarnessError as e:  # every runtime test of the pair fails with it, measured once
                self._runtimes[key] = e
        found = self._runtimes[key]
        if isinstance(found, Exception):
            raise found
        return found

    def record_performance(
        self, suite: str, record: dict, suite_file=None, remeasure=None, tolerance: float | None = None
    ) -> tuple[TimingRecord, str | None]:
        """Add a timing record to the suite's results; with ``suite_file`` it is gated first against
        the suite's baseline (:func:`harness.engine.gates.gate_timing`; ``remeasure()`` returns
        a fresh record as data). Returns the record kept and the gate's failure message, or None."""
        record, message = TimingRecord.model_validate(record), None
        if suite_file is not None:
            fresh = None if remeasure is None else lambda: TimingRecord.model_validate(remeasure())
            record, message = self._check_timing(suite, suite_file, record, fresh, tolerance)
        self.performance.setdefault(suite, []).append(record)
        return record, message

    def _baseline(self, suite: str, suite_file) -> baseline.Baseline | None:
        """The suite's baseline, loaded once per run; None with --update-baseline (nothing is checked)."""
        self.baseline_files[suite] = baseline.baseline_path(suite_file, suite)
        if self.settings.update_baseline:
            return None
        if suite not in self._baselines:
            self._baselines[suite] = baseline.load(self.baseline_files[suite], suite)
        return self._baselines[suite]

    def _shown(self, path: Path) -> Path:
        return path.relative_to(self.settings.root) if path.is_relative_to(self.settings.root) else path

    def check_baseline(self, evaluation: Evaluation, suite: str, suite_file, tolerance=None) -> str | None:
        """Compare the pair's metrics with ``suite``'s baseline and record the check in that suite's
        results (an evaluation another suite of the run shares carries the other suite's name).

        Returns the failure message, or None; raises ``BaselineError`` for an unusable baseline file.
        """
        found = self._baseline(suite, suite_file)
        if found is None:
            return None
        checkpoint, spec = evaluation.checkpoint.id, evaluation.approach
        entry = found.pairs.get((checkpoint, spec.id))
        result = gates.check_pair(entry, len(evaluation.texts), evaluation.metrics, tolerance)
        self.outcome(suite, checkpoint, spec).baseline = result
        return gates.baseline_failure_message(result, evaluation.label, self._shown(found.path))

    def machine(self):
        if self._machine is None:
            self._machine = baseline.machine_fingerprint(environment(self.settings.device, self.settings.root))
        return self._machine

    def _check_timing(self, suite: str, suite_file, record: TimingRecord, remeasure, tolerance):
        """Gate a timing record against the suite's baseline; the result goes into ``record.baseline``."""
        try:
            found = self._baseline(suite, suite_file)
        except baseline.BaselineError as e:
            return record, str(e)
        if found is None:
            return record, None
        entry = found.performance.get(record.key)
        record, record.baseline = gates.gate_timing(entry, record, self.machine(), remeasure, tolerance)
        return record, gates.timing_failure_message(record, record.baseline, self._shown(found.path))

    def fragment(self) -> dict:
        """What this process produced, as JSON-ready data (an xdist worker sends it to the controller)."""
        env = {**environment(self.settings.device, self.settings.root), "dtype": self.settings.dtype}
        suites: dict[str, dict] = {}

        def part(suite: str) -> dict:
            return suites.setdefault(suite, {"pairs": [], "datasets": {}, "performance": [], "runtimes": []})

        for outcome in self.outcomes.values():
            part(outcome.suite)["pairs"].append(outcome.record(env))
        for suite, records in self.performance.items():
            part(suite)["performance"].extend(r.to_json() for r in records)
        for (suite, _, _), records in self._runtimes.items():
            if not isinstance(records, Exception):
                part(suite)["runtimes"].extend(r.to_json() for r in records)
        for suite, names in self.suite_datasets.items():
            part(suite)["datasets"].update({name: self.overviews[name] for name in names})
        for suite, points in self.learning_curves.items():
            part(suite).setdefault("learning_curves", []).extend(p.to_json() for p in points)
        for record in self.budget.phases:  # a phase of no suite (none so far) goes with the first one
            suite = record.get("suite") or next(iter(sorted(suites)), None)
            if suite is not None:
                part(suite).setdefault("phases", []).append(record | {"suite": suite})
        fragment = {
            "environment": env,
            "cache": self.cache.stats(),
            "suites": suites,
            "baseline_files": {suite: str(path) for suite, path in self.baseline_files.items()},
        }
        return json.loads(json.dumps(fragment, default=str))


class Pair:
    """One (checkpoint, approach) of a suite run by a command: its data, checkpoint, runtime and evaluation
    come from its :class:`SuiteRun`, as a pytest run's do (``harness export``, ``harness predict``)."""

    def __init__(
        self,
        run: SuiteRun,
        suite: Suite,
        checkpoint_id: str | None,
        approach_id: str | None,
        train_split: str | None = None,
        eval_split: str | None = None,
    ):
        checkpoint_id, self.spec = named_pair(suite, checkpoint_id, approach_id)
        self.train_split, self.eval_split = named_splits(suite, train_split, eval_split)
        self.run, self.suite = run, suite
        self.checkpoint = run.resolve(checkpoint_id)
        self.dataset = run.dataset(suite.dataset)
        self.dataset_name = run.source_of(self.dataset).name
        run.check_runtime(self.spec, self.checkpoint)

    @property
    def what(self) -> str:
        return f"{self.spec.id} · {self.checkpoint.short_name}"

    def evaluate(self) -> Evaluation:
        """The pair's evaluation on the eval split (once per run), its estimator fitted."""
        from .evaluation import ensure_fitted, get_split

        evaluation = self.run.evaluation(
            self.suite.name, self.dataset, self.checkpoint, self.spec, self.train_split, self.eval_split
        )
        train = get_split(self.dataset, self.dataset_name, self.train_split)
        ensure_fitted(evaluation, list(train["text"]), np.asarray(train["label"], dtype=int))
        return evaluation

    def predict_proba(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """The labels, and for every text one probability per label, from the evaluated pair's estimator."""
        from .evaluation import check_finite, label_columns

        evaluation = self.evaluate()
        raw = evaluation.estimator.predict_proba(texts, runtime=evaluation.runtime)
        proba = label_columns(raw, evaluation.estimator, len(texts), len(evaluation.labels), self.what)
        check_finite(proba, self.what)
        return evaluation.labels, proba
