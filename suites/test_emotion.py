"""The book's chapter-2 study on ``emotion``: checkpoints × approaches, gated on validation accuracy/F1.

Run: ``HARNESS_DATA_DIR=../shared/data pytest suites/ --benchmark`` (without --benchmark only the
cheap baseline runs). Checkpoints that cannot be resolved here are skipped with the reason.
"""

import pytest

from harness import approach_spec
from harness.checkpoints import select_device
from harness.inference import dtype_supported

DISTILBERT = "distilbert-base-uncased"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
# A published emotion classifier (its model card reports 0.938 test accuracy), scored as it is.
PUBLISHED = "bhadresh-savani/distilbert-base-uncased-emotion"

FAST_DTYPE = "bf16" if dtype_supported("bf16", select_device("auto")) else "fp32"

APPROACHES = [
    approach_spec("most-frequent"),
    approach_spec("features-logreg", pooling="cls"),
    approach_spec("features-logreg", pooling="mean"),
    # The book's recipe (lr 2e-5, random batches, fp32) by default. MiniLM is small and learns faster
    # with lr 1e-4; length-grouped batches spend less of its two CPU epochs on padding, and bf16
    # autocast, where the device runs it natively (this CI's CPU does), trains ~1.3x faster again at
    # the same accuracy (0.9255 vs 0.925 in fp32). The dtype used is recorded with the results.
    approach_spec(
        "finetune",
        per_checkpoint={MINILM: {"learning_rate": 1e-4, "group_by_length": True, "dtype": FAST_DTYPE}},
    ),
]

# Minimum validation scores per (checkpoint, approach id). The baseline always predicts "joy"
# (704 of 2000 validation texts); the book reports 0.633 (features) and ~0.92 (finetune) for DistilBERT.
GATES = {
    (DISTILBERT, "most-frequent"): {"accuracy": 0.35},
    (DISTILBERT, "features-logreg-cls"): {"accuracy": 0.62},
    (DISTILBERT, "features-logreg-mean"): {"accuracy": 0.62},
    (DISTILBERT, "finetune"): {"accuracy": 0.91, "f1_weighted": 0.91},
    (MINILM, "most-frequent"): {"accuracy": 0.35},
    (MINILM, "features-logreg-cls"): {"accuracy": 0.62},
    (MINILM, "features-logreg-mean"): {"accuracy": 0.68},
    (MINILM, "finetune"): {"accuracy": 0.91, "f1_weighted": 0.91},
}


# Baseline gate (suites/baselines/emotion.json): a metric may drop by 2 points before it fails. Runs on
# one CPU are bit-identical, but the book's recipe lands anywhere in 0.92-0.94 across machines.
BASELINE_TOLERANCE = {"accuracy": 0.02, "f1_weighted": 0.02, "f1_macro": 0.03}


@pytest.fixture(scope="session")
def dataset(harness):
    return harness.dataset("emotion")


@pytest.fixture(params=[DISTILBERT, MINILM])
def checkpoint(request, harness):
    return harness.checkpoint(request.param)


@pytest.fixture(params=APPROACHES, ids=str)
def approach(request):
    return request.param


def test_quality(evaluation, gate):
    gate(evaluation, **GATES[evaluation.checkpoint.id, evaluation.approach.id])


@pytest.mark.parametrize("checkpoint", [PUBLISHED], indirect=True)
@pytest.mark.parametrize("approach", [approach_spec("pretrained")], indirect=True, ids=str)
def test_published_classifier(evaluation, gate):
    gate(evaluation, accuracy=0.92, f1_weighted=0.92)


# Speed: a fixed sample of validation texts, timed with pytest-benchmark (--benchmark-json,
# --benchmark-compare, ... work) and recorded in the suite results. Small on purpose: a few seconds
# for all of them; full-split throughput against other ways of running the model is
# `python -m harness.bench`.
SPEED_SAMPLE = 32
SPEED_BATCH_SIZE = 32
SPEED_SWEEP = (1, 8)  # further batch sizes timed for CPU fp32 extraction: one pass each, model already warm
SPEED_SETTINGS = [("cpu", "fp32"), ("cpu", "bf16"), ("cuda", "fp32"), ("cuda", "fp16"), ("cuda", "bf16")]


@pytest.fixture(scope="session")
def speed_texts(dataset):
    return list(dataset["validation"]["text"][:SPEED_SAMPLE])


@pytest.fixture(scope="session")
def speed_models():
    """(checkpoint id, task, device) → (model, tokenizer), each loaded once per run."""
    return {}


def _time_speed(task, benchmark, checkpoint, setting, speed_texts, speed_models, record_performance):
    import torch

    from harness import timing
    from harness.inference import dtype_supported

    device, dtype = setting
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    if not dtype_supported(dtype, torch.device(device)):
        pytest.skip(f"{dtype} is not supported natively on {device} here")
    key = (checkpoint.id, task, device)
    if key not in speed_models:
        speed_models[key] = (timing.load_model(checkpoint, task, device), checkpoint.load_tokenizer())
    model, tokenizer = speed_models[key]
    note = "randomly initialized classification head" if task == "inference" else None
    timer = timing.BatchTimer(model, tokenizer, task, device, dtype, SPEED_BATCH_SIZE)
    record = timing.benchmark_speed(
        benchmark, timer, speed_texts, checkpoint.id, rounds=2, warmup_rounds=1, note=note
    )
    records = [record]
    if task == "extraction" and setting == ("cpu", "fp32"):
        records += timing.sweep(
            model, tokenizer, speed_texts, checkpoint.id, task, device, dtype, SPEED_SWEEP, warmup_rounds=0
        )
        benchmark.extra_info["sweep"] = [
            {k: r[k] for k in ("batch_size", "texts_per_s", "latency_ms")} for r in records
        ]
    for r in records:
        record_performance(r)


@pytest.mark.expensive
@pytest.mark.parametrize("setting", SPEED_SETTINGS, ids="-".join)
def test_extraction_speed(benchmark, checkpoint, setting, speed_texts, speed_models, record_performance):
    _time_speed("extraction", benchmark, checkpoint, setting, speed_texts, speed_models, record_performance)


@pytest.mark.expensive
@pytest.mark.parametrize("setting", SPEED_SETTINGS, ids="-".join)
def test_inference_speed(benchmark, checkpoint, setting, speed_texts, speed_models, record_performance):
    _time_speed("inference", benchmark, checkpoint, setting, speed_texts, speed_models, record_performance)
