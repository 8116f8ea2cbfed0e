"""A suite module read in one place: :class:`Suite`.

Every UPPERCASE declaration of a suite module is read here and nowhere else: the plugin and every
command ask the :class:`Suite`. A misspelt declaration (``GATE`` for ``GATES``) is a one-line error, not
a silently ignored setting. ``GATES``, ``RUNTIMES``, ``RUNTIME_GATES`` and ``CURVE_GATES`` are keyed
alike: by approach name (every spec of it), by approach id, or by ``(checkpoint id, approach id)`` for
one pair; the most specific entry wins, and a key that matches no declared pair is an error.

``harness predict`` and ``harness export`` name one pair of a suite (:func:`named_pair`,
:func:`named_splits`); :class:`harness.engine.run.SuiteRun` runs it, as it runs the pairs of a pytest run.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
import weakref
from pathlib import Path
from types import ModuleType

from .approaches import ApproachSpec
from ..errors import HarnessError


class SuiteError(HarnessError, ValueError):
    """A suite file that cannot be read, a declaration that cannot be used, or a pair it does not declare."""


# Every declaration a suite module may make, and what it expects.
DECLARATIONS = {
    "DATASET": "a dataset name, hub id or ./folder",
    "CHECKPOINTS": "a list of checkpoint ids or paths",
    "ALLOW_MISSING_CHECKPOINTS": "True or False (True: a local checkpoint path that is not there skips)",
    "APPROACHES": "a list of approach_spec(...) declarations",
    "GATES": "{approach name, id or (checkpoint, id): {metric: minimum}}",
    "BASELINE_TOLERANCE": "a number or {metric: number}",
    "TIMING_TOLERANCE": "a number between 0 and 1",
    "RUNTIMES": "a list of runtime names, or {approach name, id or (checkpoint, id): [runtime names]}",
    "RUNTIME_GATES": "{runtime: {gate: limit}}, or {approach name, id or (checkpoint, id): {runtime: {...}}}",
    "RUNTIME_BATCH_SIZE": "a positive integer",
    "RUNTIME_SPEED_TEXTS": "a positive integer",
    "RUNTIME_LATENCY_TEXTS": "a positive integer",
    "RUNTIME_ROUNDS": "a positive integer",
    "RUNTIME_TIME_LIMIT": "seconds (a positive number), or None for no limit",
    "SPEED_TEXTS": "a positive integer",
    "SPEED_BATCH_SIZE": "a positive integer",
    "SPEED_TASKS": "a list of tasks (extraction, inference)",
    "SPEED_SETTINGS": "a list of (device, dtype) pairs (device cpu, cuda or cuda:N; dtype fp32, bf16, fp16 or "
                      "auto: bf16 where native, else fp32); [] opts out of speed tests",
    "SPEED_TIME_LIMIT": "seconds (a positive number), or None for no limit",
    "SHOTS": "a list of training sizes (examples per class, or 'all')",
    "SEEDS": "a list of distinct integers",
    "CURVE_GATES": "{approach name, id or (checkpoint, id): {shots: {metric: minimum}}}",
}
# An UPPERCASE name with one of these prefixes, or close to a declaration, is taken for a misspelt one.
RESERVED_PREFIXES = ("SPEED_", "RUNTIME_", "CURVE_", "BASELINE_", "TIMING_")
POSITIVE_INTEGERS = ("RUNTIME_BATCH_SIZE", "RUNTIME_SPEED_TEXTS", "RUNTIME_LATENCY_TEXTS", "RUNTIME_ROUNDS",
                     "SPEED_TEXTS", "SPEED_BATCH_SIZE")
TIME_LIMITS = ("RUNTIME_TIME_LIMIT", "SPEED_TIME_LIMIT")
KEYED = ("GATES", "RUNTIMES", "RUNTIME_GATES", "CURVE_GATES")
SPLIT_FIXTURES = ("train_split", "eval_split")
_SUITES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _misspelt(name: str) -> str | None:
    """Why ``name`` looks like a misspelt declaration (with "did you mean ...?"), or None."""
    if name in DECLARATIONS or not name.isupper() or name.startswith("_"):
        return None
    close = difflib.get_close_matches(name, DECLARATIONS, n=1, cutoff=0.8)
    if close:
        return f"{name} is not a suite declaration; did you mean {close[0]}?"
    if name.startswith(RESERVED_PREFIXES):
        known = [d for d in DECLARATIONS if d.startswith(name.split("_")[0] + "_")]
        return f"{name} is not a suite declaration; expected one of {known}"
    return None


class Suite:
    """Every declaration of one suite module, checked: what the plugin and the commands read."""

    def __init__(self, module: ModuleType, path: Path | None = None):
        self.module = module
        self.path = Path(path or getattr(module, "__file__", None) or module.__name__)
        self.name = self.path.stem.removeprefix("test_")
        self.where = str(self.path)
        self.declared = {key: module.__dict__[key] for key in DECLARATIONS if key in module.__dict__}
        for key in module.__dict__ if self.declared else ():  # a module that declares nothing is no suite
            problem = _misspelt(key)
            if problem:
                raise SuiteError(f"{self.where}: {problem}")
        self.dataset = self.declared.get("DATASET")
        self.checkpoints = self._checkpoints()
        self.approaches = self._approaches()
        self._check_numbers()
        self._check_speed()
        self.timing_tolerance = self._timing_tolerance()
        for key in KEYED:
            self._check_keys(key)
        self._runtime_gates = self._split_runtime_gates()
        self.shots, self.seeds = self._curve_settings()
        self._check_gates()

    # -- reading a module --

    @classmethod
    def of(cls, module: ModuleType) -> Suite:
        """The module's suite, read once."""
        if module not in _SUITES:
            _SUITES[module] = cls._read(module)
        return _SUITES[module]

    @classmethod
    def _read(cls, module: ModuleType, path: Path | None = None) -> Suite:
        try:
            return cls(module, path)
        except SuiteError:
            raise
        except HarnessError as e:  # a declaration its own check refused (runtimes, shots, ...)
            raise SuiteError(str(e)) from None

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        """Import the suite file (running its code, as pytest would) and read its declarations; a
        command needs ``DATASET``, ``CHECKPOINTS`` and ``APPROACHES``."""
        path = Path(path)
        if not path.is_file() or path.suffix != ".py":
            raise SuiteError(
                f"{path}: not a suite file; expected a Python file such as suites/test_emotion.py"
            )
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
        suite = cls._read(module, path)
        missing = [key for key in ("DATASET", "CHECKPOINTS", "APPROACHES") if key not in suite.declared]
        if missing:
            raise SuiteError(
                f"{path}: declares no {', '.join(missing)}; expected module-level DATASET, CHECKPOINTS and "
                "APPROACHES (see suites/test_emotion.py)"
            )
        return suite

    def defines(self, name: str) -> bool:
        """Whether the module defines ``name`` itself (a fixture or test of its own)."""
        return name in self.module.__dict__

    @property
    def own_fixtures(self) -> frozenset[str]:
        """The split fixtures the suite defines itself."""
        return frozenset(f for f in SPLIT_FIXTURES if self.defines(f))

    def _error(self, key: str, problem: str) -> SuiteError:
        return SuiteError(f"{self.where}: {key}: {problem}; expected {DECLARATIONS[key]}")

    def _sequence(self, key: str) -> list | tuple | None:
        """The declared list ``key`` (None when undeclared); anything else, a string too, is an error."""
        value = self.declared.get(key)
        if value is not None and (isinstance(value, str) or not isinstance(value, (list, tuple))):
            raise self._error(key, f"{value!r}")
        return value

    def _checkpoints(self) -> tuple[str, ...] | None:
        value = self._sequence("CHECKPOINTS")
        return None if value is None else tuple(str(c) for c in value)

    def _approaches(self) -> tuple[ApproachSpec, ...] | None:
        value = self.declared.get("APPROACHES")
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not all(isinstance(a, ApproachSpec) for a in value):
            raise self._error("APPROACHES", "not a list of approach specs")
        seen: dict[str, ApproachSpec] = {}
        for spec in value:
            if spec.id in seen:
                raise SuiteError(
                    f"{self.where}: APPROACHES: {seen[spec.id].declaration()} and {spec.declaration()} have "
                    f"the same id {spec.id!r}; give one of them another variant="
                )
            seen[spec.id] = spec
        return tuple(value)

    def _check_numbers(self) -> None:
        for key in POSITIVE_INTEGERS:
            value = self.declared.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise self._error(key, f"{value!r}")
        for key in TIME_LIMITS:
            value = self.declared.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not value > 0):
                raise self._error(key, f"{value!r}")
        allow = self.declared.get("ALLOW_MISSING_CHECKPOINTS", False)
        if not isinstance(allow, bool):
            raise self._error("ALLOW_MISSING_CHECKPOINTS", f"{allow!r}")

    def _check_speed(self) -> None:
        from .timing.speed import TASKS, setting_problem

        for task in self._sequence("SPEED_TASKS") or ():
            if task not in TASKS:
                raise self._error("SPEED_TASKS", f"unknown task {task!r}")
        for setting in self._sequence("SPEED_SETTINGS") or ():
            problem = setting_problem(setting)
            if problem:
                raise self._error("SPEED_SETTINGS", problem)

    @property
    def allow_missing_checkpoints(self) -> bool:
        """Whether a local checkpoint path that is not there skips its tests instead of failing them."""
        return self.declared.get("ALLOW_MISSING_CHECKPOINTS", False)

    def _timing_tolerance(self) -> float | None:
        value = self.declared.get("TIMING_TOLERANCE")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value < 1):
            raise self._error("TIMING_TOLERANCE", f"{value!r}")
        return value

    # -- keys: approach name, approach id or (checkpoint, approach id) --

    def _pair_keys(self) -> set:
        """Every key that names declared pairs."""
        specs = self.approaches or ()
        keys = {spec.name for spec in specs} | {spec.id for spec in specs}
        checkpoints = self.checkpoints or ()
        return keys | {(checkpoint, spec.id) for checkpoint in checkpoints for spec in specs}

    def _check_keys(self, key: str) -> None:
        table = self.declared.get(key)
        if table is None or (key == "RUNTIMES" and isinstance(table, (list, tuple))):
            return
        if not isinstance(table, dict):
            raise self._error(key, f"{type(table).__name__}")
        if self.approaches is None:  # the suite's own approach fixture: nothing to check the keys against
            return
        known = self._pair_keys() | (self._runtime_names() if key == "RUNTIME_GATES" else set())
        for entry in table:
            if entry not in known:
                ids = sorted({spec.id for spec in self.approaches} | {spec.name for spec in self.approaches})
                pair = " or (checkpoint, approach id) of CHECKPOINTS" if self.checkpoints else ""
                raise SuiteError(
                    f"{self.where}: {key}: key {entry!r} matches no declared pair; expected an approach "
                    f"name or id of APPROACHES {ids}{pair}"
                )

    def entries(self, table: dict | None, checkpoint_id: str | None, spec: ApproachSpec) -> list:
        """The values of ``table`` for the pair, least specific first: name, id, (checkpoint, id)."""
        table = table or {}
        keys = list(dict.fromkeys([spec.name, spec.id, (checkpoint_id, spec.id)]))
        return [table[key] for key in keys if key in table]

    @staticmethod
    def _runtime_names() -> set[str]:
        from .deploy.backends import RUNTIMES

        return set(RUNTIMES)

    # -- quality gates and tolerances --

    def _check_gates(self) -> None:
        from ..results.model import METRICS

        for key, thresholds in (self.declared.get("GATES") or {}).items():
            unknown = sorted(set(thresholds) - set(METRICS)) if isinstance(thresholds, dict) else None
            if unknown is None or unknown:
                raise SuiteError(
                    f"{self.where}: GATES[{key!r}]: unknown metric(s) {unknown or thresholds!r}; expected "
                    f"some of {list(METRICS)}"
                )

    def gates_for(self, checkpoint_id: str | None, spec: ApproachSpec) -> dict:
        """The thresholds ``GATES`` declares for the pair (``{}`` when none); the most specific entry wins."""
        entries = self.entries(self.declared.get("GATES"), checkpoint_id, spec)
        return {metric: minimum for entry in entries for metric, minimum in entry.items()}

    @property
    def baseline_tolerance(self):
        return self.declared.get("BASELINE_TOLERANCE")

    # -- deployment runtimes --

    def _split_runtime_gates(self) -> tuple[dict, dict]:
        """``RUNTIME_GATES`` as (gates for every pair: {runtime: limits}, {pair key: {runtime: limits}})."""
        from .gates import check_runtime_limits

        table = self.declared.get("RUNTIME_GATES") or {}
        names = self._runtime_names() if table else set()
        common = {k: v for k, v in table.items() if k in names}
        per_pair = {k: v for k, v in table.items() if k not in names}
        where = f"{self.where}: RUNTIME_GATES"
        check_runtime_limits(where, common)
        for key, limits in per_pair.items():
            if not isinstance(limits, dict):
                raise self._error("RUNTIME_GATES", f"{key!r}: {limits!r}")
            check_runtime_limits(f"{where}[{key!r}]", limits)
        return common, per_pair

    def runtimes_for(self, checkpoint_id: str | None, spec: ApproachSpec) -> list[str]:
        """The runtimes the suite declares for the pair: ``[]`` when none, or when it runs no model."""
        from .gates import check_runtime_names

        declared = self.declared.get("RUNTIMES")
        if declared is None or spec.cls.deployment_graph is None:
            return []
        if isinstance(declared, (list, tuple)):
            names = list(declared)
        else:
            found = self.entries(declared, checkpoint_id, spec)
            names = list(found[-1]) if found else []
        check_runtime_names(f"{self.where}: RUNTIMES", names)
        return names

    def check_runtimes(self) -> None:
        """Check ``RUNTIMES`` as a whole: known runtime names, and approaches that run a model."""
        from .gates import check_runtime_names

        declared = self.declared.get("RUNTIMES")
        where = f"{self.where}: RUNTIMES"
        if declared is None:
            return
        if isinstance(declared, (list, tuple)):
            check_runtime_names(where, declared)
            return
        if self.approaches is None:
            raise SuiteError(f"{where}: a dict per approach needs APPROACHES")
        for key, names in declared.items():
            pair = (key[0], None) if isinstance(key, tuple) else None
            specs = [s for s in self.approaches if key in (s.name, s.id, pair and (pair[0], s.id))]
            if not any(spec.cls.deployment_graph for spec in specs):
                raise SuiteError(f"{where}: approach {key!r} runs no transformer; runtimes need one")
            check_runtime_names(where, names)

    def runtime_cases(self) -> list[tuple[ApproachSpec, str]]:
        """(approach, runtime) for every runtime declared for an approach on any checkpoint."""
        checkpoints = self.checkpoints or (None,)
        return [
            (spec, name)
            for spec in self.approaches or ()
            for name in dict.fromkeys(n for c in checkpoints for n in self.runtimes_for(c, spec))
        ]

    def runtime_gates_for(self, checkpoint_id: str | None, spec: ApproachSpec) -> dict[str, dict]:
        """``{runtime: {gate: limit}}`` for the pair: the entries for every pair, then the pair's own."""
        common, per_pair = self._runtime_gates
        gates = {name: dict(limits) for name, limits in common.items()}
        for entry in self.entries(per_pair, checkpoint_id, spec):
            for name, limits in entry.items():
                gates.setdefault(name, {}).update(limits)
        return gates

    def measure_settings(self):
        """How runtimes are measured (:class:`~harness.engine.deploy.measure.MeasureSettings`)."""
        from .deploy.measure import MeasureSettings

        names = {"batch_size": "RUNTIME_BATCH_SIZE", "speed_texts": "RUNTIME_SPEED_TEXTS",
                 "latency_texts": "RUNTIME_LATENCY_TEXTS", "rounds": "RUNTIME_ROUNDS",
                 "time_limit": "RUNTIME_TIME_LIMIT"}
        declared = {field: self.declared[key] for field, key in names.items() if key in self.declared}
        return MeasureSettings(**declared)

    # -- speed tests --

    def speed_settings(self):
        """The checkpoints' speed tests (:class:`~harness.engine.timing.speed.SpeedSettings`)."""
        from .timing.speed import SpeedSettings

        declared = self.declared
        values = {"texts": declared.get("SPEED_TEXTS"), "batch_size": declared.get("SPEED_BATCH_SIZE"),
                  "tasks": declared.get("SPEED_TASKS"), "settings": declared.get("SPEED_SETTINGS")}
        if values["tasks"] is not None:
            values["tasks"] = tuple(values["tasks"])
        if values["settings"] is not None:
            values["settings"] = tuple(tuple(s) for s in values["settings"])
        values = {k: v for k, v in values.items() if v is not None}
        if "SPEED_TIME_LIMIT" in declared:  # None is a value here: no limit
            values["time_limit"] = declared["SPEED_TIME_LIMIT"]
        return SpeedSettings(**values)

    # -- learning curves --

    def _curve_settings(self) -> tuple[list | None, list[int]]:
        if "SHOTS" not in self.declared:
            if "SEEDS" in self.declared or "CURVE_GATES" in self.declared:
                raise SuiteError(f"{self.where}: SEEDS and CURVE_GATES need SHOTS = [...] as well")
            return None, [0]
        from .curves import DEFAULT_SEEDS, check_seeds, check_shots

        if self.approaches is None:
            raise SuiteError(f"{self.where}: SHOTS needs APPROACHES = [...] as well")
        shots = check_shots(self.declared["SHOTS"], f"{self.where}: SHOTS")
        seeds = check_seeds(self.declared.get("SEEDS", list(DEFAULT_SEEDS)), f"{self.where}: SEEDS")
        return shots, seeds

    def curve_gates_for(self, checkpoint_id: str | None, spec: ApproachSpec) -> dict:
        """``{shots: {metric: minimum}}`` for the pair's learning curve; the most specific entry wins."""
        gates: dict = {}
        for entry in self.entries(self.declared.get("CURVE_GATES"), checkpoint_id, spec):
            for shots, thresholds in entry.items():
                gates.setdefault(shots, {}).update(thresholds)
        return gates

    def approach(self, approach_id: str) -> ApproachSpec:
        """The declared approach of that id (a one-line error names the declared ones)."""
        specs = {spec.id: spec for spec in self.approaches or ()}
        if approach_id not in specs:
            raise SuiteError(f"{self.where}: no approach {approach_id!r}; expected one of {sorted(specs)}")
        return specs[approach_id]


def load_suite(path: str | Path) -> Suite:
    """The suite file's :class:`Suite` (commands need DATASET, CHECKPOINTS and APPROACHES)."""
    return Suite.load(path)


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


def named_pair(
    suite: Suite, checkpoint_id: str | None, approach_id: str | None
) -> tuple[str, ApproachSpec]:
    """The declared (checkpoint id, approach) a command names by ``--checkpoint`` and ``--approach`` (an
    id, or a name only one spec has); the only one where none is named."""
    checkpoint_id = _choose(checkpoint_id, {c: c for c in suite.checkpoints}, "checkpoint", suite)
    spec = _choose(_approach_id(approach_id, suite), {a.id: a for a in suite.approaches}, "approach", suite)
    return checkpoint_id, spec


def named_splits(suite: Suite, train_split: str | None, eval_split: str | None) -> tuple[str, str]:
    """The (train, eval) splits a command uses: as given, else the defaults of the plugin's fixtures; a
    suite that defines its own split fixture must have them named."""
    return (
        _split(train_split, "train_split", "train", suite),
        _split(eval_split, "eval_split", "validation", suite),
    )
