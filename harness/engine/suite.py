"""One pair of a suite outside pytest: read a suite file's declarations, fit and score the pair.

``harness predict`` and ``harness export`` use it. A pair is fitted as a pytest run fits it (the
same data, runtime settings and cache keys), so a pair the suite has already run comes from the
cache: a fine-tuned model loads in seconds, a features classifier refits on its cached features.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from .approaches import ApproachSpec
from ..errors import HarnessError


class SuiteError(HarnessError, ValueError):
    """A suite file that cannot be read, or a pair it does not declare."""


@dataclass(frozen=True)
class Suite:
    """What a suite file declares: ``DATASET``, ``CHECKPOINTS`` and ``APPROACHES``."""

    name: str
    path: Path
    dataset: str
    checkpoints: tuple[str, ...]
    approaches: tuple[ApproachSpec, ...]
    own_fixtures: frozenset[str]  # split fixtures the suite defines itself
    module: ModuleType = field(compare=False, repr=False)  # further declarations (RUNTIMES, …)
    allow_missing_checkpoints: bool = False  # ALLOW_MISSING_CHECKPOINTS: a missing local path skips


@dataclass(frozen=True)
class PairSettings:
    """Where data, checkpoints and the cache are, and how the pair runs (the pytest options' defaults)."""

    data_dir: str | None = None
    model_dir: str | None = None
    cache_dir: str | None = None  # None: $HARNESS_CACHE_DIR, else ~/.cache/harness
    device: str = "auto"
    dtype: str = "fp32"
    train_split: str | None = None  # None: "train", unless the suite overrides the fixture
    eval_split: str | None = None  # None: "validation", likewise


def load_suite(path: str | Path) -> Suite:
    """Import the suite file (running its code, as pytest would) and read its declarations."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".py":
        raise SuiteError(f"{path}: not a suite file; expected a Python file such as suites/test_emotion.py")
    name = path.stem.removeprefix("test_")
    spec = importlib.util.spec_from_file_location(f"harness_suite_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as for any import: its classes and dataclasses find their module
    sys.path.insert(0, str(path.parent.resolve()))  # as pytest does: the suite may import its neighbours
    try:
        spec.loader.exec_module(module)
    except HarnessError as e:
        raise SuiteError(f"{path}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's code: say what failed, in one line
        raise SuiteError(f"{path}: importing it failed ({type(e).__name__}: {e})") from None
    finally:
        sys.path.remove(str(path.parent.resolve()))
    declared = {key: getattr(module, key, None) for key in ("DATASET", "CHECKPOINTS", "APPROACHES")}
    missing = [key for key, value in declared.items() if value is None]
    if missing:
        raise SuiteError(
            f"{path}: declares no {', '.join(missing)}; expected module-level DATASET, CHECKPOINTS and "
            "APPROACHES (see suites/test_emotion.py)"
        )
    approaches = tuple(declared["APPROACHES"])
    if not all(isinstance(a, ApproachSpec) for a in approaches):
        raise SuiteError(f"{path}: APPROACHES: expected approach_spec(...) declarations")
    return Suite(
        name=name,
        path=path,
        dataset=str(declared["DATASET"]),
        checkpoints=tuple(str(c) for c in declared["CHECKPOINTS"]),
        approaches=approaches,
        own_fixtures=frozenset(f for f in ("train_split", "eval_split") if hasattr(module, f)),
        allow_missing_checkpoints=getattr(module, "ALLOW_MISSING_CHECKPOINTS", False) is True,
        module=module,
    )


PLURAL = {"checkpoint": "checkpoints", "approach": "approaches"}


def _choose(wanted: str | None, options: dict, what: str, suite: Suite):
    """The option named ``wanted``; the only one when none is named."""
    if wanted is None:
        if len(options) == 1:
            return next(iter(options.values()))
        raise SuiteError(
            f"{suite.path} declares {len(options)} {PLURAL[what]}; choose one with --{what} "
            f"(one of {list(options)})"
        )
    if wanted not in options:
        raise SuiteError(f"{suite.path}: no {what} {wanted!r}; expected one of {list(options)}")
    return options[wanted]


def _approach_id(wanted: str | None, suite: Suite) -> str | None:
    """An approach id as given, or the id of the only approach of that name (``finetune-0.001``)."""
    named = [a.id for a in suite.approaches if a.name == wanted]
    return named[0] if len(named) == 1 and wanted not in {a.id for a in suite.approaches} else wanted


def _split(given: str | None, fixture: str, default: str, suite: Suite) -> str:
    if given is not None:
        return given
    if fixture in suite.own_fixtures:
        option = "--" + fixture.replace("_", "-")
        raise SuiteError(f"{suite.path} defines its own {fixture} fixture; name the split with {option}")
    return default


class Pair:
    """One (checkpoint, approach) of a suite, with its data and runtime; :meth:`fit` and :meth:`evaluate`."""

    def __init__(
        self, suite: Suite, checkpoint_id: str | None, approach_id: str | None, settings: PairSettings
    ):
        from .cache import Cache
        from .checkpoints import resolve_checkpoint
        from .data import load_dataset, resolve_source
        from .runtime import Runtime

        self.suite = suite
        checkpoint_id = _choose(checkpoint_id, {c: c for c in suite.checkpoints}, "checkpoint", suite)
        self.spec: ApproachSpec = _choose(
            _approach_id(approach_id, suite), {a.id: a for a in suite.approaches}, "approach", suite
        )
        self.train_split = _split(settings.train_split, "train_split", "train", suite)
        self.eval_split = _split(settings.eval_split, "eval_split", "validation", suite)
        self.checkpoint = resolve_checkpoint(checkpoint_id, settings.model_dir)
        self.dataset = load_dataset(suite.dataset, settings.data_dir)
        self.dataset_name = resolve_source(suite.dataset, settings.data_dir).name
        cache = Cache(settings.cache_dir)
        try:
            self.base_runtime = Runtime(device=settings.device, dtype=settings.dtype, cache=cache)
            self.runtime = self.base_runtime.replace(**self.spec.runtime)
            self.runtime.torch_device()
        except ValueError as e:  # an absent device or a dtype it cannot run: one line
            raise SuiteError(f"{self.spec.id} · {self.checkpoint.short_name}: {e}") from None

    @property
    def what(self) -> str:
        return f"{self.spec.id} · {self.checkpoint.short_name}"

    def _examples(self, split: str) -> tuple[list[str], np.ndarray]:
        from .evaluation import get_split

        part = get_split(self.dataset, self.dataset_name, split)
        return list(part["text"]), np.asarray(part["label"], dtype=int)

    @property
    def labels(self) -> list[str]:
        from .evaluation import get_split

        return list(get_split(self.dataset, self.dataset_name, self.train_split).features["label"].names)

    def _fit(self, estimator):
        """Fit ``estimator`` with exactly the arguments :func:`harness.engine.evaluation.evaluate` passes."""
        from .evaluation import check_train_classes

        texts, y = self._examples(self.train_split)
        check_train_classes(estimator, y, self.dataset_name, self.train_split, self.labels)
        eval_set = self._examples(self.eval_split)
        return estimator.fit(texts, y, runtime=self.runtime, labels=self.labels, eval_set=eval_set)

    def fit(self):
        """The fitted estimator (from the cache where the approach caches its training)."""
        return self._fit(self.spec.build(self.checkpoint))

    def evaluate(self):
        """The pair's :class:`~harness.engine.evaluation.Evaluation` on the eval split, its estimator fitted."""
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        from .evaluation import evaluate

        evaluation = evaluate(
            self.suite.name,
            self.dataset_name,
            self.dataset,
            self.checkpoint,
            self.spec,
            self.base_runtime,
            self.train_split,
            self.eval_split,
        )
        try:
            check_is_fitted(evaluation.estimator)
        except NotFittedError:  # the predictions came from the cache: fit (from the cache too)
            self._fit(evaluation.estimator)
        return evaluation

    def predict_proba(self, estimator, texts: list[str]) -> np.ndarray:
        """One column per label of the dataset, for every text."""
        from .evaluation import check_finite, label_columns

        raw = estimator.predict_proba(texts, runtime=self.runtime)
        proba = label_columns(raw, estimator, len(texts), len(self.labels), self.what)
        check_finite(proba, self.what)
        return proba
