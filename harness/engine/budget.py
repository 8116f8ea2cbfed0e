"""Where the time went: every phase of a run timed, with the pair it worked for and whether its result
came from the cache.

``with phase("fit", split="train"):`` times a block. Phases nest: each keeps its own time (its
``seconds`` leave out the phases opened inside it), so the phases of a run add up to its wall time and
a feature extraction inside a fit is counted once, as extraction. A nested phase inherits the pair
(:func:`for_pair`) and the split of the phases around it. Nothing is recorded while no
:class:`Budget` is active (``with budget.active():``), so engine code can be timed unconditionally.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

_BUDGET: ContextVar[Budget | None] = ContextVar("harness_budget", default=None)
_OPEN: ContextVar[tuple[_Open, ...]] = ContextVar("harness_open_phases", default=())
_PAIR: ContextVar[dict] = ContextVar("harness_phase_pair", default={})


@dataclass
class _Open:
    """A phase being timed; ``cached`` may be set inside the block, once the cache lookup is known."""

    name: str
    split: str | None
    cached: bool | None = None
    detail: str | None = None
    children_s: float = 0.0


@dataclass
class Budget:
    """The phases recorded while this budget was active, as JSON-ready dicts (``results.PhaseRecord``)."""

    phases: list[dict] = field(default_factory=list)

    def start(self) -> Budget:
        """Record from now on in this context (a pytest session: until another budget starts)."""
        _BUDGET.set(self)
        return self

    @contextmanager
    def active(self):
        token = _BUDGET.set(self)
        try:
            yield self
        finally:
            _BUDGET.reset(token)

    def add(self, name: str, seconds: float, cached: bool | None = None, split: str | None = None,
            **pair) -> None:
        """A phase timed elsewhere (e.g. report rendering, after the run)."""
        self.phases.append({"phase": name, "split": split, "seconds": round(seconds, 4), "cached": cached,
                            **{k: v for k, v in pair.items() if v is not None}})


@contextmanager
def for_pair(suite: str, checkpoint: str | None, approach: str | None, **extra):
    """Phases opened inside belong to this pair (``extra``: e.g. ``shots`` and ``seed`` of a curve fit)."""
    token = _PAIR.set({"suite": suite, "checkpoint": checkpoint, "approach": approach, **extra})
    try:
        yield
    finally:
        _PAIR.reset(token)


@contextmanager
def phase(name: str, split: str | None = None, cached: bool | None = None, detail: str | None = None):
    """Time the block as phase ``name`` (``detail``: e.g. the runtime it exports); yields the open
    phase (set ``.cached`` when it is known)."""
    budget = _BUDGET.get()
    if budget is None:
        yield _Open(name, split, cached, detail)
        return
    stack = _OPEN.get()
    current = _Open(name, split or (stack[-1].split if stack else None), cached, detail)
    token = _OPEN.set((*stack, current))
    started = time.perf_counter()
    try:
        yield current
    finally:
        elapsed = time.perf_counter() - started
        _OPEN.reset(token)
        if stack:
            stack[-1].children_s += elapsed
        pair = _PAIR.get() | ({"detail": detail} if detail else {})
        budget.add(name, max(elapsed - current.children_s, 0.0), current.cached, current.split, **pair)


def mark_cached(hit: bool) -> bool:
    """The innermost open phase's result came from the cache (``hit``) or was computed; returns ``hit``."""
    stack = _OPEN.get()
    if stack:
        stack[-1].cached = hit if stack[-1].cached is None else stack[-1].cached and hit
    return hit


def timed(name: str):
    """Decorator: every call of the function is phase ``name``."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with phase(name):
                return function(*args, **kwargs)

        return wrapper

    return decorate
