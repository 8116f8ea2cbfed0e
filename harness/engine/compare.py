"""Paired comparisons of pairs scored on the same examples: McNemar's exact test and a paired bootstrap.

``compare_records`` compares the pairs of one run (the suite file's ``comparisons``); ``harness
compare A.json B.json`` compares each pair of one suite file with the same pair of another.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from . import stats
from ..results.curves import SeedComparison
from ..results.model import Comparison, PairKey, PairRecord

ALPHA = 0.05
DEFAULT_METRICS = ("accuracy",)


def not_comparable(a: PairRecord, b: PairRecord, names=("a", "b")) -> str | None:
    """Why two pair records cannot be compared example by example, or None when they can."""
    for name, record in zip(names, (a, b), strict=True):
        if not record.evaluated:
            return f"{name} was not evaluated (status {record.status})"
    if a.eval_fingerprint != b.eval_fingerprint:
        return "they scored different examples (eval_fingerprint differs)"
    if a.labels != b.labels:
        return "their label sets differ"
    if a.predictions.gold != b.predictions.gold:
        return "their gold labels differ"
    return None


def compare_pair(a: PairRecord, b: PairRecord, metrics=DEFAULT_METRICS, alpha: float = ALPHA) -> list[Comparison]:
    """One comparison per metric of two evaluated pair records on the same examples.

    ``winner`` is the side the difference favours when McNemar's p < ``alpha`` and the 95% paired
    bootstrap interval of the difference excludes 0; otherwise null.
    """
    reason = not_comparable(a, b)
    if reason:
        raise ValueError(f"cannot compare {a.key} with {b.key}: {reason}")
    if seeded_alike(a, b):
        return compare_seeded(a, b, metrics, alpha)
    gold = np.asarray(a.predictions.gold)
    pred_a, pred_b = np.asarray(a.predictions.predicted), np.asarray(b.predictions.predicted)
    p_value, discordant = stats.mcnemar_exact(pred_a == gold, pred_b == gold)
    intervals = stats.paired_bootstrap(gold, pred_a, pred_b, len(a.labels))
    comparisons = []
    for metric in metrics:
        a_value, b_value = float(getattr(a.metrics, metric)), float(getattr(b.metrics, metric))
        low, high = intervals[metric]
        significant = p_value < alpha and (low > 0 or high < 0)
        difference = a_value - b_value
        comparisons.append(
            Comparison(
                a=PairKey(checkpoint=a.checkpoint, approach=a.approach.id),
                b=PairKey(checkpoint=b.checkpoint, approach=b.approach.id),
                metric=metric,
                a_value=a_value,
                b_value=b_value,
                difference=difference,
                ci=[float(low), float(high)],
                mcnemar_p=float(p_value),
                n_discordant=[int(n) for n in discordant],
                n_examples=len(gold),
                winner=("a" if difference > 0 else "b") if significant else None,
            )
        )
    return comparisons


def seeded_alike(a: PairRecord, b: PairRecord) -> bool:
    """Both pairs were fitted once per seed, with the same seeds."""
    return (
        a.seeds is not None
        and b.seeds is not None
        and [s.seed for s in a.seeds.seeds] == [s.seed for s in b.seeds.seeds]
    )


def compare_seeded(
    a: PairRecord, b: PairRecord, metrics=DEFAULT_METRICS, alpha: float = ALPHA
) -> list[Comparison]:
    """Two pairs fitted with the same seeds: a paired test per seed (seed i of a against seed i of b:
    McNemar and a paired bootstrap, in ``per_seed``), and on the seed-averaged metric: ``a_value`` and
    ``b_value`` are means over seeds, ``ci`` the paired bootstrap of the difference of those means (the
    same example resamples for every seed), ``mcnemar_p`` the largest per-seed p. ``winner`` is set only
    when every seed's test favours the same side and ``ci`` excludes 0."""
    gold = np.asarray(a.predictions.gold)
    n_labels = len(a.labels)
    indices = stats.resample_indices(len(gold))
    seeds = [s.seed for s in a.seeds.seeds]
    resampled, tests = {m: [] for m in metrics}, []
    for i in range(len(seeds)):
        pred_a, pred_b = np.asarray(a.seeds.predicted[i]), np.asarray(b.seeds.predicted[i])
        p_value, _ = stats.mcnemar_exact(pred_a == gold, pred_b == gold)
        scores_a = stats.resampled_metrics(gold, pred_a, n_labels, indices)
        scores_b = stats.resampled_metrics(gold, pred_b, n_labels, indices)
        for metric in metrics:
            resampled[metric].append(scores_a[metric] - scores_b[metric])
        tests.append(p_value)
    comparisons = []
    for metric in metrics:
        per_seed = []
        for i, seed in enumerate(seeds):
            low, high = stats.percentile_interval(resampled[metric][i])
            difference = a.seeds.seeds[i].metrics[metric] - b.seeds.seeds[i].metrics[metric]
            significant = tests[i] < alpha and (low > 0 or high < 0)
            per_seed.append(
                SeedComparison(
                    seed=seed,
                    difference=difference,
                    ci=[low, high],
                    mcnemar_p=float(tests[i]),
                    winner=("a" if difference > 0 else "b") if significant else None,
                )
            )
        low, high = stats.percentile_interval(np.mean(resampled[metric], axis=0))
        a_value, b_value = a.seeds.summary.mean[metric], b.seeds.summary.mean[metric]
        winners = {s.winner for s in per_seed}
        agreed = winners.pop() if len(winners) == 1 else None
        comparisons.append(
            Comparison(
                a=PairKey(checkpoint=a.checkpoint, approach=a.approach.id),
                b=PairKey(checkpoint=b.checkpoint, approach=b.approach.id),
                metric=metric,
                a_value=a_value,
                b_value=b_value,
                difference=a_value - b_value,
                ci=[low, high],
                mcnemar_p=max(tests),
                n_examples=len(gold),
                winner=agreed if (agreed == "a" and low > 0) or (agreed == "b" and high < 0) else None,
                per_seed=per_seed,
            )
        )
    return comparisons


def compare_records(records: list[PairRecord], metrics=DEFAULT_METRICS) -> list[Comparison]:
    """Every two evaluated records of one run that scored the same examples, in record order."""
    comparisons = []
    for a, b in combinations(records, 2):
        if not_comparable(a, b) is None:
            comparisons.extend(compare_pair(a, b, metrics))
    return comparisons
