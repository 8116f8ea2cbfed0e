"""Repeated fits, typed: learning-curve points (an approach at one training size, several seeds) and
the seeds of a full-run pair, with their mean and standard deviation.

The mean is over seeds; the standard deviation is the sample one (n − 1; 0 for one seed). A result's
seed spread (max − min accuracy) is compared with its bootstrap CI width (mean over seeds): a spread
wider than the CI means training randomness moves the score more than the evaluation sample does.
"""

from __future__ import annotations

from typing import Literal

from .types import Count, GateResult, Interval, Model, Number, Share, Status

HEADLINE = ("accuracy", "f1_weighted", "f1_macro")  # the metrics aggregated over seeds
ALL = "all"  # a training size: the whole train split


class SeedScore(Model):
    """One seed's fit: its headline metrics and their bootstrap CIs on the evaluation split."""

    seed: int | None  # None: the approach has no randomness (e.g. zero-shot)
    n_train: Count
    metrics: dict[str, Share]
    ci: dict[str, Interval] = {}
    fit_s: Number | None = None
    cached: bool = False


class SeedSummary(Model):
    """Mean and standard deviation over seeds, and whether the seeds spread wider than the CI."""

    mean: dict[str, Number]
    std: dict[str, Number]
    seed_range: Number  # max − min accuracy over seeds
    ci_width: Number | None  # mean width of the seeds' accuracy CIs
    spread_exceeds_ci: bool


class CurvePoint(Model):
    """An approach fitted on ``shots`` examples per class (a class-stratified sample of the train split,
    the same for every approach at a given size and seed), once per seed, scored on ``split``.

    ``shots`` is ``"all"`` for the whole train split, and None for a reference (an approach that does
    not learn from the examples, scored once: zero-shot, or most-frequent on the whole train split).
    """

    checkpoint: str
    approach: str
    approach_name: str
    zero_shot: bool | None = None  # learns from no labels: the reference of learned points (None: not said)
    shots: int | Literal["all"] | None
    train_split: str
    split: str
    n_examples: Count
    n_classes: Count
    seeds: list[SeedScore]
    summary: SeedSummary
    gates: list[GateResult] = []
    status: Status = "passed"
    reason: str | None = None

    @property
    def key(self) -> tuple:
        return self.checkpoint, self.approach, self.shots

    @property
    def mean(self) -> dict[str, float]:
        return self.summary.mean

    @property
    def std(self) -> dict[str, float]:
        return self.summary.std


class SeedRuns(Model):
    """A full-run pair fitted once per seed (``approach_spec(..., seeds=[...])``): the pair record's
    metrics and predictions are its first seed's; this adds every seed's scores and predicted labels."""

    seeds: list[SeedScore]
    summary: SeedSummary
    predicted: list[list[Count]]  # per seed, the predicted label id of each evaluation example


class SeedComparison(Model):
    """One seed's paired test of two seeded pairs (both fitted with that seed)."""

    seed: int
    difference: Number
    ci: Interval | None = None
    mcnemar_p: Share | None = None
    winner: Literal["a", "b"] | None = None
