"""A realistic suite results document (docs/results.md) built without running a model.

Two checkpoints × three approaches on generated emotion-like data: synthetic class probabilities go
through the harness's own scoring (``harness.engine.metrics.score``), statistics (``harness.engine.stats``) and
dataset overview (``harness.engine.overview``). One pair is skipped, one fails its gate.
"""

from __future__ import annotations

import copy
import functools

import numpy as np

from harness.engine.approaches import get_approach
from harness.engine.cache import examples_digest
from harness.engine.gates import check, failure_message
from harness.engine.metrics import score
from harness.engine.overview import box_stats, dataset_overview, token_lengths
from harness.results import Metrics
from harness.engine.stats import (
    bootstrap_ci,
    brier_score,
    expected_calibration_error,
    label_suspects,
    mcnemar_exact,
    paired_bootstrap,
    reliability_bins,
)

from .conftest import LABELS, make_examples

DISTILBERT = "distilbert-base-uncased"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CHECKPOINTS = (DISTILBERT, MINILM)
APPROACHES = {  # id -> (name, variant, params)
    "features-logreg-mean": ("features-logreg", "mean", {"pooling": "mean", "C": 1.0}),
    "finetune": ("finetune", None, {"learning_rate": 2e-5, "num_train_epochs": 2}),
    "most-frequent": ("most-frequent", None, {"strategy": "most_frequent"}),
}
SKIPPED = (DISTILBERT, "finetune")
SKIP_REASON = "finetune is expensive: run with --benchmark"
GATES = {
    "most-frequent": {"accuracy": 0.1},
    "features-logreg-mean": {"accuracy": 0.5},
    "finetune": {"accuracy": 0.6},
}
FAILING_GATE = (MINILM, "most-frequent", {"accuracy": 0.3})  # the most-frequent baseline cannot reach 0.3
BASELINES = {  # (status, baseline accuracy - this run's accuracy)
    (MINILM, "finetune"): ("ok", -0.01),
    (MINILM, "features-logreg-mean"): ("regressed", 0.05),
    (DISTILBERT, "features-logreg-mean"): ("new", None),
}
SIGNAL = {  # how strongly the synthetic model prefers the gold class, per (checkpoint, approach)
    (DISTILBERT, "features-logreg-mean"): 1.6,
    (MINILM, "features-logreg-mean"): 2.2,
    (MINILM, "finetune"): 3.4,
}
PAIR_RUNTIMES = {  # the settings each approach ran with: the fine-tune in bf16 next to fp32 features
    "most-frequent": {"device": "cpu", "dtype": "fp32", "batch_size": 64},
    "features-logreg-mean": {"device": "cpu", "dtype": "fp32", "batch_size": 64},
    "finetune": {"device": "cpu", "dtype": "bf16", "batch_size": 32},
}
CACHED_PAIR = (DISTILBERT, "features-logreg-mean")  # its predictions and timings came from an earlier run
# the MiniLM fine-tune of a CI run: 500 steps, 2 epochs; the GEMM peak read before and after each epoch
TRAINING_THROUGHPUT = {
    "device": "cpu", "dtype": "bf16", "threads": 2, "steps": 500, "texts": 32000, "tokens": 712304,
    "padded_tokens": 738432, "train_s": 100.9, "cpu_s": 200.6, "useful_gflop": 45960.1, "executed_gflop": 47692.3,
    "gflops": 455.5, "gemm_peak_gflops": 934.5, "gemm_peak_readings": [901.2, 934.5, 918.0],
    "peak_fraction": 455.5 / 934.5,
}
FIT_SECONDS = {"most-frequent": 0.01, "features-logreg-mean": 41.7, "finetune": 612.3}
PREDICT_SECONDS = {"most-frequent": 0.004, "features-logreg-mean": 1.9, "finetune": 2.6}
ENVIRONMENT = {
    "date": "2026-11-24T16:58:55+00:00",
    "git_commit": "4c1d0f3a9b2e7c6d5f4a3b2c1d0e9f8a7b6c5d4e",
    "python": "3.11.7",
    "platform": "Linux-6.18.44-x86_64-with-glibc2.36",
    "cpu": "AMD EPYC 7B13",
    "cpu_count": 2,
    "torch_threads": 2,
    "device": "cpu",
    "gpu": None,
    "dtype": "float32",
    "versions": {
        "harness": "0.1.0",
        "torch": "2.13.0+cpu",
        "transformers": "5.24.0",
        "scikit-learn": "1.9.1",
    },
}
HOSTILE_TEXTS = (
    "<script>document.body.appendChild(document.createElement('pwned-marker'));document.title='pwned'</script>",
    "<img src=x onerror=\"document.body.appendChild(document.createElement('pwned-marker'))\">",
    "pipes | a || b \\| c, a back\\slash, `code`, **bold**, [link](javascript:alert(1)) & &amp;",
    "line one\nline two\r\nline three\rline four\u2028line five",
    "long " + "x" * 5000,
    "naïve café — 😀 👩\u200d👩\u200d👧 日本語のテキスト",
    "שלום עולם مرحبا بالعالم \u202eevil override\u202c end",
)


class WordTokenizer:
    """Stands in for a checkpoint's tokenizer: one token per word plus [CLS] and [SEP]."""

    def __init__(self, tokens_per_word: int = 1):
        self.tokens_per_word = tokens_per_word

    def __call__(self, texts, **_):
        return {"input_ids": [[0] * (self.tokens_per_word * len(t.split()) + 2) for t in texts]}


def _splits() -> dict[str, list[tuple[str, str]]]:
    splits = {
        "train": make_examples(240, 0),
        "validation": make_examples(60, 1),
        "test": make_examples(60, 2),
    }
    # the same texts with other gold labels: the overview lists them as conflicting
    for text, label in splits["train"][:3]:
        other = LABELS[(LABELS.index(label) + 1) % len(LABELS)]
        splits["validation"].append((text, other))
    return splits


def _dataset_dict(splits):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=LABELS)})
    return DatasetDict(
        {
            name: Dataset.from_dict(
                {"text": [t for t, _ in rows], "label": [LABELS.index(label) for _, label in rows]},
                features=features,
            )
            for name, rows in splits.items()
        }
    )


def _overview(splits) -> dict:
    dataset = _dataset_dict(splits)
    overview = dataset_overview("emotion", dataset)
    overview["token_lengths"] = {
        DISTILBERT: token_lengths(dataset, WordTokenizer(1), max_length=512),
        MINILM: token_lengths(dataset, WordTokenizer(2), max_length=20),  # some texts exceed it
    }
    return overview


def _probabilities(checkpoint: str, approach: str, y_true: np.ndarray, train_labels: list[int]) -> np.ndarray:
    n_labels = len(LABELS)
    if approach == "most-frequent":
        priors = np.bincount(train_labels, minlength=n_labels) / len(train_labels)
        return np.tile(priors, (len(y_true), 1))
    rng = np.random.default_rng(CHECKPOINTS.index(checkpoint) * 10 + len(approach))
    logits = rng.normal(size=(len(y_true), n_labels))
    logits[np.arange(len(y_true)), y_true] += SIGNAL[checkpoint, approach]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _record(checkpoint: str, approach_id: str, texts, y_true, train_labels) -> dict:
    name, variant, params = APPROACHES[approach_id]
    record = {
        "schema_version": 1,
        "suite": "emotion",
        "checkpoint": checkpoint,
        "approach": {"name": name, "variant": variant, "id": approach_id, "params": params,
                     **get_approach(name).capabilities()},
        "status": "skipped",
        "reason": SKIP_REASON,
        "gates": [],
        "split": None,
        "n_examples": None,
        "metrics": None,
        "timings": None,
        "environment": ENVIRONMENT,
    }
    if (checkpoint, approach_id) == SKIPPED:
        return record
    proba = _probabilities(checkpoint, approach_id, y_true, train_labels)
    scored = score(y_true, proba, LABELS, texts=texts)
    metrics, y_pred = scored["metrics"], scored["y_pred"]
    bins = reliability_bins(y_true, proba)
    metrics.update(
        ci=bootstrap_ci(y_true, y_pred, len(LABELS), n_resamples=200),
        ece=expected_calibration_error(bins),
        brier=brier_score(y_true, proba),
    )
    thresholds = FAILING_GATE[2] if (checkpoint, approach_id) == FAILING_GATE[:2] else GATES[approach_id]
    gates = check(Metrics.model_validate(metrics), **thresholds)
    reason = failure_message(f"{approach_id} · {checkpoint.rsplit('/', 1)[-1]}", gates)
    record.update(
        status="failed" if reason else "passed",
        reason=reason,
        gates=[g.to_json() for g in gates],
        dataset="emotion",
        checkpoint_source={"kind": "mirror-package", "location": f"/models/{checkpoint}"},
        train_split="train",
        split="validation",
        n_examples=len(texts),
        n_truncated=None if approach_id == "most-frequent" else 0,
        labels=list(LABELS),
        eval_fingerprint=examples_digest(texts, y_true),
        metrics=metrics,
        timings={"fit": FIT_SECONDS[approach_id], "predict": PREDICT_SECONDS[approach_id], "score": 0.02},
        runtime=PAIR_RUNTIMES[approach_id],
        cached=(checkpoint, approach_id) == CACHED_PAIR,
        examples={"worst_loss": scored["worst"], "best_loss": scored["best"]},
        training_history=None,
        training_throughput=TRAINING_THROUGHPUT if approach_id == "finetune" else None,
        predictions={
            "gold": y_true.tolist(),
            "predicted": y_pred.tolist(),
            "loss": scored["loss"].tolist(),
            "proba": proba.tolist(),
        },
        calibration={"n_bins": 10, "bins": bins},
    )
    if approach_id != "most-frequent":
        record["label_suspects"] = label_suspects(y_true, proba, LABELS, texts)
    if (checkpoint, approach_id) in BASELINES:
        record["baseline"] = _baseline(metrics["accuracy"], *BASELINES[checkpoint, approach_id])
    return record


def _baseline(accuracy: float, status: str, baseline_gap: float | None) -> dict:
    """A baseline entry as the gate comparison writes it; ``new`` has nothing to compare with yet."""
    if status == "new":
        return {"status": "new", "checks": []}
    check = {"metric": "accuracy", "baseline": accuracy + baseline_gap, "value": accuracy, "tolerance": 0.02}
    return {"status": status, "checks": [{**check, "passed": status == "ok"}]}


def _comparison(a: dict, b: dict) -> dict:
    gold = np.asarray(a["predictions"]["gold"])
    pred_a, pred_b = np.asarray(a["predictions"]["predicted"]), np.asarray(b["predictions"]["predicted"])
    p_value, discordant = mcnemar_exact(pred_a == gold, pred_b == gold)
    difference = a["metrics"]["accuracy"] - b["metrics"]["accuracy"]
    winner = None if p_value >= 0.05 else ("a" if difference > 0 else "b")
    return {
        "a": {"checkpoint": a["checkpoint"], "approach": a["approach"]["id"]},
        "b": {"checkpoint": b["checkpoint"], "approach": b["approach"]["id"]},
        "metric": "accuracy",
        "a_value": a["metrics"]["accuracy"],
        "b_value": b["metrics"]["accuracy"],
        "difference": difference,
        "ci": paired_bootstrap(gold, pred_a, pred_b, len(LABELS), n_resamples=200)["accuracy"],
        "mcnemar_p": p_value,
        "n_discordant": list(discordant),
        "n_examples": len(gold),
        "winner": winner,
    }


PHASES = [
    {"phase": "dataset load", "seconds": 1.2, "cached": None, "suite": "emotion", "detail": "emotion"},
    {"phase": "feature extraction", "seconds": 95.0, "cached": False, "suite": "emotion",
     "checkpoint": MINILM, "approach": "features-logreg-mean", "split": "train"},
    {"phase": "fit", "seconds": 30.5, "cached": False, "suite": "emotion", "checkpoint": MINILM,
     "approach": "finetune", "split": "train"},
    {"phase": "predictions cache", "seconds": 0.2, "cached": True, "suite": "emotion", "checkpoint": MINILM,
     "approach": "features-logreg-cls", "split": "validation"},
    {"phase": "speed rounds", "seconds": 12.0, "cached": None, "suite": "emotion", "checkpoint": MINILM,
     "detail": "extraction cpu fp32"},
]
PERFORMANCE = [
    {
        "checkpoint": DISTILBERT,
        "task": "extraction",
        "device": "cpu",
        "dtype": "float32",
        "batch_size": 64,
        "n_texts": 2000,
        "texts_per_s": 61.4,
        "tokens_per_s": 1473.6,
        "latency_ms": {"p50": 1012.5, "p90": 1190.2, "p95": 1244.0, "p99": 1391.7},
        "tokenize_ms": 4.1,
        "peak_rss_mb": 1733.0,
        "peak_cuda_mb": None,
        "reference_gflops": 95.2,
        "normalized_throughput": 0.645,
    },
    {
        "checkpoint": MINILM,
        "task": "extraction",
        "device": "cpu",
        "dtype": "float32",
        "batch_size": 64,
        "n_texts": 2000,
        "texts_per_s": 402.7,
        "tokens_per_s": 9664.8,
        "latency_ms": {"p50": 155.3, "p90": 181.0, "p95": 190.6, "p99": 214.9},
        "tokenize_ms": 3.8,
        "peak_rss_mb": 911.0,
        "peak_cuda_mb": None,
        "reference_gflops": 95.2,
        "normalized_throughput": 4.23,
        "latency_per_text_ms": {"p50": 7.9, "p90": 9.1, "p95": 9.8, "p99": 12.0},
        "ratio": 0.394,
        "remeasured": True,
        "contention": {"seen": True, "runqueue_wait_share": 0.56, "threshold": 0.1},
        "baseline": {
            "status": "regressed", "mode": "ratio", "metric": "ratio", "baseline": 0.7818,
            "value": 0.3958, "values": [0.3948, 0.3958], "tolerance": 0.3, "passed": False,
            "texts_per_s": {"baseline": 16.79, "value": 7.85},
        },
    },
    {
        "checkpoint": MINILM,
        "task": "inference",
        "device": "cuda:0",
        "dtype": "float16",
        "batch_size": 64,
        "n_texts": 2000,
        "texts_per_s": 9876.5,
        "tokens_per_s": 237036.0,
        "latency_ms": {"p50": 6.2, "p90": 6.9, "p95": 7.3, "p99": 8.8},
        "tokenize_ms": 3.9,
        "peak_rss_mb": 2410.0,
        "peak_cuda_mb": 388.0,
        "reference_gflops": 51234.0,
        "normalized_throughput": 0.193,
        "speedup_vs_cpu": 24.53,
    },
]


@functools.lru_cache(maxsize=1)
def _suite_document() -> dict:
    splits = _splits()
    texts = [t for t, _ in splits["validation"]]
    y_true = np.array([LABELS.index(label) for _, label in splits["validation"]])
    train_labels = [LABELS.index(label) for _, label in splits["train"]]
    pairs = [
        _record(checkpoint, approach_id, texts, y_true, train_labels)
        for checkpoint in CHECKPOINTS
        for approach_id in sorted(APPROACHES)
    ]
    by_pair = {(p["checkpoint"], p["approach"]["id"]): p for p in pairs}
    compared = [
        ((MINILM, "finetune"), (MINILM, "features-logreg-mean")),
        ((MINILM, "features-logreg-mean"), (DISTILBERT, "features-logreg-mean")),
        ((MINILM, "finetune"), (MINILM, "most-frequent")),
    ]
    return {
        "schema_version": 1,
        "kind": "harness.suite",
        "suite": "emotion",
        "run_id": "20261124T165855Z-4f2a91",
        "environment": ENVIRONMENT,
        "datasets": {"emotion": _overview(splits)},
        "pairs": pairs,
        "performance": PERFORMANCE,
        "comparisons": [_comparison(by_pair[a], by_pair[b]) for a, b in compared],
        "phases": PHASES,
    }


def suite_document() -> dict:
    """A fresh copy of the full document: every optional field present."""
    return copy.deepcopy(_suite_document())


STABLE_PAIR_KEYS = (
    "schema_version",
    "suite",
    "checkpoint",
    "approach",
    "status",
    "reason",
    "split",
    "n_examples",
    "metrics",
    "timings",
    "environment",
)
STATISTICS = ("ci", "ece", "brier")


def minimal_document() -> dict:
    """The document with only required keys: no datasets, performance, comparisons or statistics."""
    doc = suite_document()
    for pair in doc["pairs"]:
        for key in set(pair) - set(STABLE_PAIR_KEYS):
            del pair[key]
        for key in STATISTICS:
            (pair["metrics"] or {}).pop(key, None)
    for key in ("datasets", "performance", "comparisons"):
        del doc[key]
    return doc


def hostile_document() -> dict:
    """The full document with untrusted-looking texts in every place dataset text or a reason shows up."""
    doc = suite_document()
    for pair in doc["pairs"]:
        for kind in ("worst_loss", "best_loss"):
            for example, text in zip((pair.get("examples") or {}).get(kind, []), HOSTILE_TEXTS, strict=False):
                example["text"] = text
        for example, text in zip(
            (pair.get("label_suspects") or {}).get("examples", []), HOSTILE_TEXTS, strict=False
        ):
            example["text"] = text
        if pair["status"] != "passed":
            pair["reason"] = pair["reason"] + " " + HOSTILE_TEXTS[0]
    duplicates = doc["datasets"]["emotion"]["duplicates"]["examples"]
    duplicates += [
        {"text": text, "labels": [{"split": "train", "label": "joy"}, {"split": "test", "label": "fear"}]}
        for text in HOSTILE_TEXTS
    ]
    return doc


def conflicting_document(n_conflicting: int = 51) -> dict:
    """The full document whose dataset lists ``n_conflicting`` texts with conflicting gold labels."""
    doc = suite_document()
    labels = [{"split": "train", "label": "joy"}, {"split": "validation", "label": "fear"}]
    doc["datasets"]["emotion"]["duplicates"] = {
        "n_conflicting": n_conflicting,
        "examples": [{"text": f"conflicting text {i}", "labels": labels} for i in range(n_conflicting)],
    }
    return doc


def long_text_document(text_size: int = 5_000_000, label_size: int = 20_000) -> dict:
    """The full document with a single-line text of ``text_size`` characters wherever dataset text or a
    reason shows up, and a label name of ``label_size`` characters."""
    doc = suite_document()
    text = "long " + "y" * text_size
    for pair in doc["pairs"]:
        for kind in ("worst_loss", "best_loss"):
            for example in (pair.get("examples") or {}).get(kind, [])[:1]:
                example["text"] = text
        for example in (pair.get("label_suspects") or {}).get("examples", [])[:1]:
            example["text"] = text
        if pair["status"] == "skipped":
            pair["reason"] = text
    doc["datasets"]["emotion"]["duplicates"]["examples"][0]["text"] = text
    return renamed(doc, "joy", "joy " + "z" * label_size)


def renamed(data, old: str, new: str):
    """``data`` with every string (and key) equal to ``old`` replaced by ``new``."""
    if isinstance(data, dict):
        return {(new if k == old else k): renamed(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [renamed(v, old, new) for v in data]
    return new if data == old else data


def many_classes_document(n_classes: int = 1000, n_examples: int = 5000) -> dict:
    """Two evaluated pairs over ``n_classes`` classes with a long-tailed class distribution, computed
    directly with numpy (no bootstrap), and a dataset overview of the same classes."""
    rng = np.random.default_rng(0)
    labels = [f"class-{i:04d}" for i in range(n_classes)]
    weights = 1.0 / np.arange(1, n_classes + 1)
    weights /= weights.sum()
    gold = rng.choice(n_classes, size=n_examples, p=weights)
    texts = [f"text {i} about {labels[g]}" for i, g in enumerate(gold)]
    pairs = [
        _many_classes_record(checkpoint, rng, labels, weights, gold, texts, accuracy)
        for checkpoint, accuracy in ((DISTILBERT, 0.4), (MINILM, 0.7))
    ]
    train = rng.choice(n_classes, size=4 * n_examples, p=weights)
    lengths = rng.integers(3, 60, size=n_examples)
    overview = {
        "name": "many",
        "labels": labels,
        "splits": {
            name: {
                "n": len(ids),
                "class_counts": dict(
                    zip(labels, np.bincount(ids, minlength=n_classes).tolist(), strict=True)
                ),
            }
            for name, ids in (("train", train), ("validation", gold))
        },
        "duplicates": {"n_conflicting": 0, "examples": []},
        "token_lengths": {
            MINILM: {
                "split": "validation",
                "max_length": 40,
                "per_class": {label: box_stats(lengths[gold == i]) for i, label in enumerate(labels)},
                "n_exceeding": {"validation": int((lengths > 40).sum())},
            }
        },
    }
    return {
        "schema_version": 1,
        "kind": "harness.suite",
        "suite": "many",
        "run_id": "many-classes",
        "environment": ENVIRONMENT,
        "datasets": {"many": overview},
        "pairs": pairs,
        "performance": PERFORMANCE,
        "comparisons": [],
    }


def _many_classes_record(checkpoint, rng, labels, weights, gold, texts, accuracy) -> dict:
    n_classes, n = len(labels), len(gold)
    predicted = np.where(rng.random(n) < accuracy, gold, rng.choice(n_classes, size=n, p=weights))
    counts = np.bincount(gold * n_classes + predicted, minlength=n_classes**2).reshape(n_classes, n_classes)
    support, hits = counts.sum(axis=1), np.diag(counts)
    precision = hits / np.maximum(counts.sum(axis=0), 1)
    recall = hits / np.maximum(support, 1)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=precision + recall > 0
    )
    acc = float(hits.sum() / n)
    p_gold = np.where(predicted == gold, 0.8, 0.05)
    loss = -np.log(p_gold)

    def example(i):
        return {
            "index": int(i),
            "text": texts[i],
            "gold": labels[gold[i]],
            "predicted": labels[predicted[i]],
            "loss": float(loss[i]),
            "p_gold": float(p_gold[i]),
        }

    order = np.argsort(-loss, kind="stable")
    interval = [max(acc - 0.01, 0.0), min(acc + 0.01, 1.0)]
    return {
        "schema_version": 1,
        "suite": "many",
        "checkpoint": checkpoint,
        "approach": {"name": "finetune", "variant": None, "id": "finetune", "params": {}},
        "status": "passed",
        "reason": None,
        "gates": [],
        "split": "validation",
        "n_examples": n,
        "metrics": {
            "accuracy": acc,
            "f1_weighted": float((f1 * support).sum() / n),
            "f1_macro": float(f1.mean()),
            "loss_mean": float(loss.mean()),
            "per_class": {
                label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
            },
            "confusion_matrix": (counts / np.maximum(support, 1)[:, None]).tolist(),
            "ci": {
                "level": 0.95,
                "n_resamples": 1000,
                "accuracy": interval,
                "f1_weighted": interval,
                "f1_macro": interval,
            },
            "ece": 0.05,
            "brier": 0.5,
        },
        "timings": {"fit": 100.0, "predict": 10.0, "score": 1.0},
        "environment": ENVIRONMENT,
        "labels": labels,
        "examples": {
            "worst_loss": [example(i) for i in order[:10]],
            "best_loss": [example(i) for i in order[::-1][:10]],
        },
        "label_suspects": {
            "rule": "gold label improbable",
            "per_class": dict(
                zip(labels, np.bincount(gold[predicted != gold], minlength=n_classes).tolist(), strict=True)
            ),
            "examples": [{**example(i), "conflicting": False} for i in order[:50]],
        },
        "calibration": {
            "n_bins": 10,
            "bins": [
                {
                    "low": b / 10,
                    "high": (b + 1) / 10,
                    "count": n // 10,
                    "confidence": b / 10 + 0.05,
                    "accuracy": b / 10,
                }
                for b in range(10)
            ],
        },
        "predictions": {"gold": gold.tolist(), "predicted": predicted.tolist()},
    }
