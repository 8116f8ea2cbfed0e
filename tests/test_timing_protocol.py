import contextlib
import subprocess
import sys

import pytest

from harness.engine.timing import protocol as timing_protocol
from harness.engine.timing import timer as timing
from harness.engine.checkpoints import resolve_checkpoint
from harness.engine import gates
from harness.results import TimingRecord
from harness.results.model import BaselineTiming, Machine

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

    machine = Machine(cpu="this machine", gpu=None, torch="this torch")

    def measure(seconds=timing_protocol.RATIO_SECONDS, **changes):
        data = timing_protocol.measure(timer, TEXTS, "small", rounds=1, ratio_seconds=seconds)
        return TimingRecord.model_validate(data | changes)

    def gate(entry):
        return gates.gate_timing(entry, measure(), machine, lambda: measure(remeasured=True))

    # One intra-op thread throughout, as the ratio rounds always are: on a small shared machine a
    # two-thread model spends its wall time in OpenMP barriers, which only makes this test slow.
    with timing_protocol.intra_op_threads(1):
        first = measure(timing_protocol.BASELINE_RATIO_SECONDS)
        entry = BaselineTiming.model_validate(
            {key: getattr(first, key) for key in ("checkpoint", "task", "device", "dtype", "batch_size")}
            | {"texts_per_s": first.texts_per_s, "ratio": first.ratio, "machine": machine.to_json()}
        )
        with twice_as_slow(model):
            slowed, slowed_verdict = gate(entry)
        with busy_neighbour():
            crowded, crowded_verdict = gate(entry)

    def relative(verdict):
        return [round(value / entry.ratio, 2) for value in verdict["values"]]

    seen = (
        f"baseline ratio {entry.ratio:.4g}; relative to it, 2x slower: {relative(slowed_verdict)}, "
        f"beside a busy process: {relative(crowded_verdict)}"
    )
    print(seen, crowded.contention)
    assert slowed_verdict["status"] == "regressed" and slowed.remeasured, seen
    assert "measured twice" in gates.timing_failure_message(slowed, slowed_verdict, "b.json"), seen
    assert crowded_verdict["passed"], seen
    assert crowded.contention["seen"], crowded.contention


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
