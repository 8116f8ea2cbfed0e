"""The per-run state behind the pytest fixtures: datasets, checkpoints and evaluations, each once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .approaches import ApproachSpec, HiddenStateExtractor
from .checkpoints import CheckpointUnavailable, ResolvedCheckpoint, resolve_checkpoint
from .data import DataSource, load_dataset, resolve_source
from .results import PairOutcome, environment, write_record


@dataclass
class Settings:
    benchmark: bool = False
    report_dir: Path = Path("reports")
    device: str = "cpu"
    data_dir: str | None = None
    model_dir: str | None = None
    root: Path = Path(".")


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
                extractors=self._extractors,
            )
        evaluation = self._evaluations[key]
        self.outcome(suite, checkpoint.id, spec).evaluation = evaluation
        return evaluation

    def write_results(self) -> list[Path]:
        if not self.outcomes:
            return []
        env = environment(self.settings.device, self.settings.root)
        return [write_record(self.settings.report_dir, o.record(env)) for o in self.outcomes.values()]
