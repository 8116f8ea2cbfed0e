"""How many labels: learning curves (an approach fitted on class-stratified samples of the train split,
several seeds each) and full-run pairs repeated over seeds.

Samples depend only on the train labels, the size and the seed, so every approach of a suite sees the
same examples at a given size and seed, and for one seed each sample contains the smaller ones. A
seed also goes to the estimator's ``seed`` hyperparameter when it has one (fine-tuning, SetFit).
Curve fits never see the evaluation split (no best-epoch selection on it): with few labels there is
no large labelled validation set to select on.
"""

from __future__ import annotations

import numpy as np

from .approaches import ApproachSpec
from .approaches.registry import ApproachError
from .budget import for_pair
from .data import DatasetError
from ..errors import HarnessError
from .evaluation import Evaluation, evaluate, get_split
from ..results.curves import ALL, HEADLINE, CurvePoint, SeedRuns, SeedScore, SeedSummary

DEFAULT_SEEDS = (0,)


class CurveError(HarnessError, ValueError):
    """A suite's ``SHOTS`` or ``SEEDS`` that cannot be used."""


def check_shots(shots, where: str = "SHOTS") -> list:
    """Training sizes: positive integers (examples per class) or ``"all"``, each once."""
    values = list(shots) if isinstance(shots, (list, tuple)) else None
    bad = [
        s for s in values or [] if s != ALL and not (isinstance(s, int) and not isinstance(s, bool) and s > 0)
    ]
    if not values or bad or len(set(map(str, values))) != len(values):
        raise CurveError(
            f"{where} = {shots!r}: expected a non-empty list of distinct positive integers "
            f"(examples per class) or {ALL!r}"
        )
    return values


def check_seeds(seeds, where: str = "SEEDS") -> list[int]:
    """Seeds: distinct integers, at least one."""
    values = list(seeds) if isinstance(seeds, (list, tuple)) else None
    if (
        not values
        or any(not isinstance(s, int) or isinstance(s, bool) for s in values)
        or len(set(values)) != len(values)
    ):
        raise CurveError(f"{where} = {seeds!r}: expected a non-empty list of distinct integers")
    return values


def stratified_sample(y, shots: int, seed: int, labels, where: str) -> np.ndarray:
    """Indices of ``shots`` examples of every label, drawn without replacement, in split order.

    One permutation per class and seed: for a seed, the sample of a size holds every smaller one.
    """
    y = np.asarray(y, dtype=int)
    rng = np.random.default_rng(seed)
    picked = []
    for label_id, name in enumerate(labels):
        members = np.flatnonzero(y == label_id)
        if len(members) < shots:
            raise DatasetError(
                f"{where}: class {name!r} has {len(members)} examples; a learning curve at {shots} per class "
                "needs at least that many"
            )
        picked.append(rng.permutation(members)[:shots])
    return np.sort(np.concatenate(picked))


def seed_score(evaluation: Evaluation, seed: int | None, n_train: int) -> SeedScore:
    metrics = evaluation.scored["metrics"]
    ci = metrics.get("ci") or {}
    return SeedScore(
        seed=seed,
        n_train=n_train,
        metrics={name: metrics[name] for name in ("accuracy", "f1_weighted", "f1_macro")},
        ci={name: ci[name] for name in ("accuracy", "f1_weighted", "f1_macro") if ci.get(name)},
        fit_s=round(float(evaluation.timings["fit"]), 4),
        cached=evaluation.cached,
    )


def evaluate_seeds(
    suite: str,
    dataset_name: str,
    dataset,
    checkpoint,
    spec: ApproachSpec,
    runtime,
    train_split: str,
    split: str,
) -> list[Evaluation]:
    """A full-run pair fitted once per seed of ``spec.seeds`` (the estimator's ``seed`` set to each)."""
    if not spec.cls.seeded:
        raise ApproachError(
            f"approach {spec.id!r}: seeds={list(spec.seeds)} but it has no seed hyperparameter (its fit does "
            "not depend on one); remove seeds="
        )
    evaluations = []
    for seed in spec.seeds:
        with for_pair(suite, checkpoint.id, spec.id, detail=f"seed {seed}"):
            pair = (suite, dataset_name, dataset, checkpoint, spec, runtime, train_split, split)
            evaluations.append(evaluate(*pair, seed=seed))
    return evaluations


def seed_runs(evaluations: list[Evaluation], seeds, n_train: int) -> SeedRuns:
    """Every seed's scores and predicted labels, with their mean and std."""
    scores = [seed_score(ev, seed, n_train) for ev, seed in zip(evaluations, seeds, strict=True)]
    return SeedRuns(
        seeds=scores,
        summary=summarize(scores),
        predicted=[ev.scored["y_pred"].tolist() for ev in evaluations],
    )


def curve_points(
    suite: str,
    dataset_name: str,
    dataset,
    checkpoint,
    spec: ApproachSpec,
    runtime,
    shots: list,
    seeds: list[int],
    train_split: str = "train",
    split: str = "validation",
) -> list[CurvePoint]:
    """The approach's points: one per training size (``spec.shots`` when given, else ``shots``; a single
    reference point when it does not learn from examples), each fitted once per seed on that seed's
    stratified sample."""
    if spec.shots:
        declared = list(spec.shots) if isinstance(spec.shots, tuple) else spec.shots
        shots = check_shots(declared, f"approach {spec.id!r}: shots")
    train = get_split(dataset, dataset_name, train_split)
    held_out = get_split(dataset, dataset_name, split)
    labels = list(train.features["label"].names)
    y = np.asarray(train["label"], dtype=int)
    learns = spec.cls.learning_curve
    uses_examples = spec.cls.min_train_classes > 0  # zero-shot sees none of them
    seeded = learns and spec.cls.seeded
    points = []
    for size in shots if learns else [None]:
        scores = []
        for seed in seeds if learns else [None]:
            if size in (None, ALL):
                subset = train
            else:
                where = f"dataset {dataset_name!r} split {train_split!r}"
                subset = train.select(stratified_sample(y, size, seed, labels, where))
            sample = "all" if size == ALL else size and f"{size}/class"
            detail = " · ".join(part for part in (sample, seed is not None and f"seed {seed}") if part)
            with for_pair(suite, checkpoint.id if checkpoint else None, spec.id, detail=detail or None):
                evaluation = evaluate(
                    suite,
                    dataset_name,
                    {train_split: subset, split: held_out},
                    checkpoint,
                    spec,
                    runtime,
                    train_split,
                    split,
                    seed=seed if seeded else None,
                    eval_set=False,
                )
            scores.append(seed_score(evaluation, seed, len(subset) if uses_examples else 0))
        points.append(
            CurvePoint(
                checkpoint=checkpoint.id if checkpoint is not None else "",
                approach=spec.id,
                approach_name=spec.name,
                zero_shot=spec.cls.zero_shot,
                shots=size,
                train_split=train_split,
                split=split,
                n_examples=len(held_out),
                n_classes=len(labels),
                seeds=scores,
                summary=summarize(scores),
            )
        )
    return points


def summarize(scores: list[SeedScore]) -> SeedSummary:
    """Mean, sample std, seed range and CI width of the seeds' headline metrics."""
    if not scores:
        raise ValueError("summarize: no seed scores")
    mean, std = {}, {}
    for metric in HEADLINE:
        values = np.array([s.metrics[metric] for s in scores if metric in s.metrics], dtype=float)
        if len(values):
            mean[metric] = float(values.mean())
            std[metric] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    accuracy = [s.metrics["accuracy"] for s in scores]
    widths = [s.ci["accuracy"][1] - s.ci["accuracy"][0] for s in scores if "accuracy" in s.ci]
    seed_range = float(max(accuracy) - min(accuracy))
    ci_width = float(np.mean(widths)) if widths else None
    return SeedSummary(
        mean=mean,
        std=std,
        seed_range=seed_range,
        ci_width=ci_width,
        spread_exceeds_ci=ci_width is not None and len(scores) > 1 and seed_range > ci_width,
    )
