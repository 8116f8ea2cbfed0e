"""The per-run state behind the pytest fixtures: datasets, checkpoints and evaluations, each once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import baseline
from .approaches import ApproachSpec, HiddenStateExtractor
from .cache import Cache
from .checkpoints import CheckpointUnavailable, ResolvedCheckpoint, resolve_checkpoint
from .data import DataSource, load_dataset, resolve_source
from .inference import model_max_length
from .overview import dataset_overview, token_lengths
from .results import PairOutcome, environment


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


class HarnessSession:
    """Loads each dataset, resolves each checkpoint and runs each evaluation once per run."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._datasets: dict[str, object] = {}
        self._sources: dict[int, DataSource] = {}
        self._checkpoints: dict[str, ResolvedCheckpoint | CheckpointUnavailable] = {}
        self._extractors: dict[tuple, HiddenStateExtractor] = {}  # shared by features-logreg variants
        self._evaluations: dict[tuple, object] = {}
        self.outcomes: dict[tuple[str, str, str], PairOutcome] = {}
        self.cache = Cache(settings.cache_dir, settings.cache_mode)
        self.overviews: dict[str, dict] = {}  # dataset name → overview (token lengths per checkpoint)
        self.suite_datasets: dict[str, set[str]] = {}  # suite → names of the datasets it evaluated
        self.performance: dict[str, list[dict]] = {}  # suite → timing records
        self.baseline_files: dict[str, Path] = {}  # suite → its baseline file
        self._baselines: dict[str, baseline.Baseline] = {}
        self._machine: dict | None = None

    def dataset(self, name: str, labels=None):
        """The ``DatasetDict`` for ``name`` (a known name, hub id or local directory)."""
        if name not in self._datasets:
            dataset = load_dataset(name, self.settings.data_dir, labels)
            self._datasets[name] = dataset
            self._sources[id(dataset)] = resolve_source(name, self.settings.data_dir)
        return self._datasets[name]

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

    def outcome(self, suite: str, checkpoint_id: str, spec: ApproachSpec) -> PairOutcome:
        key = (suite, checkpoint_id, spec.id)
        if key not in self.outcomes:
            self.outcomes[key] = PairOutcome(suite, checkpoint_id, spec)
        return self.outcomes[key]

    def evaluate(
        self,
        suite: str,
        dataset,
        checkpoint: ResolvedCheckpoint,
        spec: ApproachSpec,
        train_split: str,
        split: str,
    ):
        """Evaluate the pair once per run; every test of the pair shares the result."""
        from .evaluation import evaluate

        source = self.source_of(dataset)
        key = (id(dataset), checkpoint.id, spec.id, repr(spec.params_for(checkpoint.id)), train_split, split)
        if key not in self._evaluations:
            self._evaluations[key] = evaluate(
                suite,
                source.name,
                dataset,
                checkpoint,
                spec,
                train_split,
                split,
                device=self.settings.device,
                dtype=self.settings.dtype,
                extractors=self._extractors,
                cache=self.cache,
            )
            self._describe(source.name, dataset, checkpoint)
        evaluation = self._evaluations[key]
        self.suite_datasets.setdefault(suite, set()).add(source.name)
        self.outcome(suite, checkpoint.id, spec).evaluation = evaluation
        return evaluation

    def _describe(self, name: str, dataset, checkpoint: ResolvedCheckpoint) -> None:
        """The dataset's overview for the report, with token lengths under each checkpoint's tokenizer."""
        if name not in self.overviews:
            self.overviews[name] = dataset_overview(name, dataset)
        lengths = self.overviews[name]["token_lengths"]
        if checkpoint.id not in lengths:
            tokenizer = checkpoint.load_tokenizer()
            limit = model_max_length(tokenizer, checkpoint.config().get("max_position_embeddings"))
            lengths[checkpoint.id] = token_lengths(dataset, tokenizer, limit)

    def record_performance(self, suite: str, record: dict) -> None:
        self.performance.setdefault(suite, []).append(record)

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

    def check_baseline(self, evaluation, suite_file, tolerance=None) -> str | None:
        """Compare the pair's metrics with the suite's baseline and record the check.

        Returns the failure message, or None; raises ``BaselineError`` for an unusable baseline file.
        """
        found = self._baseline(evaluation.suite, suite_file)
        if found is None:
            return None
        checkpoint, spec = evaluation.checkpoint.id, evaluation.approach
        entry = found.pairs.get((checkpoint, spec.id))
        check = baseline.check_pair(entry, len(evaluation.texts), evaluation.metrics, tolerance)
        self.outcome(evaluation.suite, checkpoint, spec).baseline = check.to_dict()
        return check.failure_message(evaluation.label, self._shown(found.path))

    def check_timing(self, suite: str, suite_file, record: dict, tolerance: float) -> str | None:
        """Compare a timing record with the suite's baseline; the result goes into ``record["baseline"]``."""
        found = self._baseline(suite, suite_file)
        if found is None:
            return None
        if self._machine is None:
            env = environment(self.settings.device, self.settings.root)
            self._machine = baseline.machine_fingerprint(env)
        entry = found.performance.get(baseline.timing_key(record))
        record["baseline"] = baseline.check_timing(entry, record, self._machine, tolerance)
        return baseline.timing_failure_message(record, record["baseline"], self._shown(found.path))

    def fragment(self) -> dict:
        """What this process produced, as JSON-ready data (an xdist worker sends it to the controller)."""
        env = {**environment(self.settings.device, self.settings.root), "dtype": self.settings.dtype}
        suites: dict[str, dict] = {}
        for outcome in self.outcomes.values():
            suites.setdefault(outcome.suite, {"pairs": [], "datasets": {}, "performance": []})
            suites[outcome.suite]["pairs"].append(outcome.record(env))
        for suite, records in self.performance.items():
            suites.setdefault(suite, {"pairs": [], "datasets": {}, "performance": []})
            suites[suite]["performance"].extend(records)
        for suite, names in self.suite_datasets.items():
            suites[suite]["datasets"].update({name: self.overviews[name] for name in names})
        fragment = {
            "environment": env,
            "cache": self.cache.stats(),
            "suites": suites,
            "baseline_files": {suite: str(path) for suite, path in self.baseline_files.items()},
        }
        return json.loads(json.dumps(fragment, default=str))
