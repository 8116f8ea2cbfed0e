import contextlib
import subprocess
import sys

import pytest

from harness import timing, timing_protocol
from harness.checkpoints import resolve_checkpoint
from harness.errors import HarnessError

from .conftest import make_examples

TEXTS = [text for text, _ in make_examples(32, seed=3)]
# One process hammering every core with BLAS threads, stopped by its own deadline if never killed.
NEIGHBOUR = """
import time, numpy as np
a = np.random.default_rng(0).standard_normal((384, 384))
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    a = np.tanh(a @ a)
"""


@contextlib.contextmanager
def busy_neighbour():
    process = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
    try:
        yield
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def twice_as_slow(model):
    """Every forward pass computes everything twice: real extra work, not a sleep."""
    forward = model.forward

    def forward_twice(*args, **kwargs):
        forward(*args, **kwargs)
        return forward(*args, **kwargs)

    model.forward = forward_twice
    try:
        yield
    finally:
        del model.forward


def small_model(tokenizer):
    """A random 4-layer BERT (hidden 128): small, yet most of a pass is the forward, as in real models."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertModel(config).eval()


def test_gate_fails_a_real_slowdown_but_not_a_busy_neighbour(tiny_checkpoint):
    tokenizer = resolve_checkpoint(str(tiny_checkpoint)).load_tokenizer()
    model = small_model(tokenizer)
    timer = timing.BatchTimer(model, tokenizer, "extraction", "cpu", batch_size=8)

    def measure(seconds=timing_protocol.RATIO_SECONDS):
        return timing_protocol.measure(timer, TEXTS, "small", rounds=1, ratio_seconds=seconds)

    # One intra-op thread throughout, as the ratio rounds always are: on a small shared machine a
    # two-thread model spends its wall time in OpenMP barriers, which only makes this test slow.
    with timing_protocol.intra_op_threads(1):
        baseline = measure(timing_protocol.BASELINE_RATIO_SECONDS)["ratio"]
        with twice_as_slow(model):
            slowed, slowed_verdict = timing_protocol.gate(measure(), baseline, measure)
        with busy_neighbour():
            crowded, crowded_verdict = timing_protocol.gate(measure(), baseline, measure)

    def relative(verdict):
        return [round(value / baseline, 2) for value in verdict["values"]]

    seen = (
        f"baseline ratio {baseline:.4g}; relative to it, 2x slower: {relative(slowed_verdict)}, "
        f"beside a busy process: {relative(crowded_verdict)}"
    )
    print(seen, crowded["contention"])
    assert slowed_verdict["status"] == "regressed" and slowed["remeasured"], seen
    assert crowded_verdict["passed"], seen
    assert crowded["contention"]["seen"], crowded["contention"]


def test_record_keeps_the_timing_keys_and_adds_the_protocol_fields(tiny_checkpoint):
    import torch

    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    model = timing.load_model(checkpoint, "extraction", "cpu")
    timer = timing.BatchTimer(model, checkpoint.load_tokenizer(), "extraction", "cpu", batch_size=8)
    threads = torch.get_num_threads()
    record = timing_protocol.measure(timer, TEXTS, "tiny", rounds=2, ratio_seconds=0)

    assert torch.get_num_threads() == threads
    assert len(timer.passes) == 3 and record["rounds"] == 2  # the other passes ran on copies
    assert {"texts_per_s", "tokens_per_s", "latency_ms", "normalized_throughput"} <= set(record)
    windows = record["ratio_rounds"]
    assert len(windows) == timing_protocol.RATIO_ROUNDS and record["ratio_clock"] == "cpu"
    assert record["ratio"] == pytest.approx(sorted(w["ratio"] for w in windows)[len(windows) // 2])
    assert all(w["ratio"] == pytest.approx(w["texts_per_s"] / w["reference_gflops"]) for w in windows)
    assert record["ratio_dispersion"] >= 0 and record["remeasured"] is False
    assert set(record["contention"]) == {"seen", "runqueue_wait_share", "threshold"}
    latency = record["latency_per_text_ms"]
    assert list(latency) == ["p50", "p90", "p95", "p99"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"]


@pytest.mark.parametrize(
    ("ratios", "status"),
    [([0.7], "ok"), ([0.6999], "unconfirmed"), ([0.5, 0.8], "ok"), ([0.5, 0.69], "regressed")],
)
def test_decide_fails_only_a_confirmed_drop(ratios, status):
    verdict = timing_protocol.decide(ratios, baseline_ratio=1.0, tolerance=0.3)
    assert verdict["status"] == status
    assert verdict["passed"] == (status != "regressed")
    assert verdict["value"] == max(ratios) and verdict["baseline"] == 1.0


def test_gate_remeasures_only_below_the_floor():
    calls = []

    def remeasure():
        calls.append(1)
        return {"ratio": 0.9, "remeasured": False}

    record = {"ratio": 1.0}
    assert timing_protocol.gate(record, None, remeasure)[1]["status"] == "new"
    kept, verdict = timing_protocol.gate(record, 1.1, remeasure)
    assert (kept, verdict["status"], calls) == (record, "ok", [])
    kept, verdict = timing_protocol.gate({"ratio": 0.5}, 1.1, remeasure)
    assert (kept["remeasured"], verdict["status"], verdict["values"], calls) == (True, "ok", [0.5, 0.9], [1])


@pytest.mark.parametrize(
    ("tolerance", "baseline", "message"),
    [
        (1.0, 1.0, "timing tolerance: expected a number in [0, 1), got 1.0"),
        (0.25, 0.0, "baseline ratio: expected a positive number, got 0.0"),
    ],
)
def test_unusable_tolerance_or_baseline_is_one_line(tolerance, baseline, message):
    with pytest.raises(HarnessError) as error:
        timing_protocol.decide([1.0], baseline, tolerance)
    assert str(error.value) == message
