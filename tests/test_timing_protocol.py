import contextlib
import statistics
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
    assert timing_protocol.RATIO_ROUNDS <= len(windows) <= timing_protocol.SPREAD_ROUNDS
    assert record["ratio_clock"] == "cpu"
    assert record["ratio"] == pytest.approx(statistics.median(w["ratio"] for w in windows))  # 3-5 windows
    assert all(w["ratio"] == pytest.approx(w["texts_per_s"] / w["reference_gflops"]) for w in windows)
    assert record["ratio_dispersion"] >= 0 and record["remeasured"] is False and record["capped"] is None
    assert set(record["contention"]) == {"seen", "runqueue_wait_share", "threshold"}
    latency = record["latency_per_text_ms"]
    assert list(latency) == ["p50", "p90", "p95", "p99"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"]


@pytest.fixture
def extraction_timer(tiny_checkpoint):
    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    model = timing.load_model(checkpoint, "extraction", "cpu")
    return timing.BatchTimer(model, checkpoint.load_tokenizer(), "extraction", "cpu", batch_size=8)


def test_a_measurement_stops_at_its_time_limit_and_says_so(extraction_timer):
    """Past the limit no part starts another round (each keeps one): the record is complete, valid, and
    names the limit and every part it cut short."""
    record = timing_protocol.measure(
        extraction_timer, TEXTS, "tiny", rounds=3, ratio_seconds=60, time_limit=1e-6
    )
    capped = record["capped"]
    assert capped["limit_s"] == 1e-6 and capped["elapsed_s"] > 0
    assert capped["reason"] == (
        "time limit of 1e-06 s reached: timed passes, per-text latency, ratio rounds cut short"
    )
    assert record["rounds"] == 1 and len(record["ratio_rounds"]) == 1
    assert record["latency_per_text_ms"]["p50"] > 0
    assert TimingRecord.model_validate(record).capped.reason == capped["reason"]


def test_no_limit_never_cuts_and_a_limit_must_be_positive():
    unlimited = timing_protocol.Deadline(None)
    assert not unlimited.reached("ratio rounds") and unlimited.capped() is None
    with pytest.raises(ValueError, match="time limit: expected a positive number of seconds, got 0"):
        timing_protocol.Deadline(0)


def test_latency_warm_up_runs_every_length_the_timed_passes_run(extraction_timer):
    texts = ["happy", "so happy", "sad", "i feel so sad", "so glad", "i am so very sad today"]
    lengths = timing.encode(extraction_timer.tokenizer, texts, 64).lengths
    warm = timing_protocol.one_per_shape(extraction_timer, texts)
    assert sorted(set(timing.encode(extraction_timer.tokenizer, warm, 64).lengths)) == sorted(set(lengths))
    assert len(warm) == len(set(lengths)) and warm == [t for t in texts if t in warm]  # one each, in order


def test_reference_rounds_are_sized_on_a_warm_pass(extraction_timer, monkeypatch):
    """A first pass that pays for kernel selection (here: a model whose first call burns 0.3 s of CPU)
    must not size the reference rounds: they would then dwarf every warm pass (the H200's bf16 test ran
    for minutes so)."""
    import time

    forward, calls = extraction_timer.model.forward, []

    def cold_first(*args, **kwargs):
        if not calls:
            start = time.process_time()
            while time.process_time() - start < 0.3:
                pass
        calls.append(1)
        return forward(*args, **kwargs)

    sized = []
    calibrate = timing_protocol.ReferenceGemm.calibrate
    monkeypatch.setattr(extraction_timer.model, "forward", cold_first)
    def recorded(self, seconds, clock):
        sized.append(seconds)
        calibrate(self, seconds, clock)

    monkeypatch.setattr(timing_protocol.ReferenceGemm, "calibrate", recorded)
    timing_protocol.measure_ratio(extraction_timer, TEXTS[:8], rounds=1, seconds=0)
    # the round before the first pass: at most REFERENCE_ROUND_S; those after it: a warm pass's length
    assert sized[0] <= timing_protocol.REFERENCE_ROUND_S and sized[-1] < 0.15


@pytest.mark.parametrize("dispersion, windows", [(0.0, 3), (1.0, timing_protocol.SPREAD_ROUNDS)])
def test_ratio_rounds_go_on_only_while_they_disagree(extraction_timer, monkeypatch, dispersion, windows):
    """Past the rounds and seconds asked for, a round is added only while the rounds' dispersion
    exceeds RATIO_SPREAD, up to SPREAD_ROUNDS: a steady measurement stops at its minimum."""
    monkeypatch.setattr(timing_protocol.RatioMeasurement, "dispersion", property(lambda self: dispersion))
    ratio = timing_protocol.measure_ratio(extraction_timer, TEXTS[:4], rounds=3, seconds=0)
    assert len(ratio.workload_texts_per_s) == windows
    assert len(ratio.reference_gflops) == windows + 1


@pytest.mark.gpu
def test_cuda_measurements_are_warm_bounded_and_wall_clocked(tiny_checkpoint):
    """On a GPU every dtype it runs is measured within the limit (warm-ups cover the timed shapes)."""
    from harness.engine.timing.timer import speed_settings

    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    model = timing.load_model(checkpoint, "extraction", "cuda")
    for device, dtype in speed_settings():
        if device != "cuda":
            continue
        timer = timing.BatchTimer(model, checkpoint.load_tokenizer(), "extraction", "cuda", dtype, batch_size=8)
        record = timing_protocol.measure(timer, TEXTS, "tiny", rounds=2, ratio_seconds=0.5, time_limit=60)
        assert record["ratio_clock"] == "wall" and record["peak_cuda_mb"] > 0
        assert record["capped"] is None, record["capped"]
