import math

import pytest
import torch

from harness.engine.timing import timer as timing
from harness.engine.checkpoints import resolve_checkpoint
from harness.engine.inference import check_dtype, dtype_supported

from .conftest import make_examples

TEXTS = [text for text, _ in make_examples(10, seed=3)]
RECORD_KEYS = {
    "checkpoint",
    "task",
    "device",
    "dtype",
    "batch_size",
    "n_texts",
    "rounds",
    "texts_per_s",
    "tokens_per_s",
    "latency_ms",
    "tokenize_ms",
    "peak_rss_mb",
    "peak_cuda_mb",
    "achieved_gflops",
    "reference_gflops",
    "normalized_throughput",
    "note",
}


@pytest.fixture(scope="module")
def extraction(tiny_checkpoint):
    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    return timing.load_model(checkpoint, "extraction", "cpu"), checkpoint.load_tokenizer()


def test_percentiles_interpolate_and_are_ordered():
    result = timing.percentiles(range(1, 101))
    assert list(result) == ["p50", "p90", "p95", "p99"]
    assert result["p50"] == pytest.approx(50.5)
    assert result["p99"] == pytest.approx(99.01)
    assert result["p50"] <= result["p90"] <= result["p95"] <= result["p99"]


def test_record_summarizes_the_timed_passes(extraction):
    model, tokenizer = extraction
    timer = timing.BatchTimer(model, tokenizer, "extraction", "cpu", batch_size=4)
    record = timing.measure(timer, TEXTS, "tiny", rounds=2, warmup_rounds=1, note="unit test")

    assert set(record) == RECORD_KEYS
    assert (record["task"], record["device"], record["dtype"], record["note"]) == (
        "extraction",
        "cpu",
        "fp32",
        "unit test",
    )
    assert (record["batch_size"], record["n_texts"], record["rounds"]) == (4, 10, 2)
    assert len(timer.passes) == 3  # the warm-up pass is run, not summarized
    for timed in timer.passes:
        assert len(timed.batch_s) == len(timed.tokenize_s) == math.ceil(10 / 4)
    latency = record["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"]
    tokens_per_text = tokenizer(TEXTS)["input_ids"]
    mean_length = sum(map(len, tokens_per_text)) / len(TEXTS)
    assert record["tokens_per_s"] / record["texts_per_s"] == pytest.approx(mean_length)
    assert record["normalized_throughput"] == pytest.approx(
        record["texts_per_s"] / record["reference_gflops"]
    )
    assert record["peak_cuda_mb"] is None
    assert record["peak_rss_mb"] > 0 and record["tokenize_ms"] > 0


def test_record_without_timed_passes_is_an_error(extraction):
    timer = timing.BatchTimer(*extraction, "extraction", "cpu")
    timer(TEXTS)
    with pytest.raises(ValueError, match="no timed passes"):
        timer.record("tiny", skip=1)


def test_inference_task_times_a_classification_head(tiny_checkpoint):
    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    model = timing.load_model(checkpoint, "inference", "cpu", num_labels=6)
    assert model.config.num_labels == 6
    timer = timing.BatchTimer(model, checkpoint.load_tokenizer(), "inference", "cpu", batch_size=8)
    record = timing.measure(timer, TEXTS, "tiny", rounds=1, warmup_rounds=0)
    assert record["task"] == "inference" and record["rounds"] == 1


def test_low_precision_dtype_is_recorded_with_its_own_reference(cpu_profile, extraction):
    if not cpu_profile.native("bf16"):
        with pytest.raises(ValueError, match="dtype 'bf16' is not supported on cpu here"):
            timing.BatchTimer(*extraction, "extraction", "cpu", dtype="bf16", batch_size=8)
        return
    timer = timing.BatchTimer(*extraction, "extraction", "cpu", dtype="bf16", batch_size=8)
    record = timing.measure(timer, TEXTS, "tiny", rounds=1)
    assert record["dtype"] == "bf16"
    assert record["reference_gflops"] == timing.gemm_peak_gflops("cpu", "bf16")


def test_bad_task_and_dtype_name_what_was_expected(cpu_profile, extraction):
    with pytest.raises(ValueError, match="task 'embed'"):
        timing.BatchTimer(*extraction, "embed", "cpu")
    with pytest.raises(ValueError, match="dtype 'int8'"):
        check_dtype("int8", torch.device("cpu"))
    for dtype in ("bf16", "fp16"):
        assert dtype_supported(dtype, torch.device("cpu")) == cpu_profile.native(dtype)
        if not cpu_profile.native(dtype):
            with pytest.raises(ValueError, match=f"dtype '{dtype}' is not supported on cpu here"):
                timing.BatchTimer(*extraction, "extraction", "cpu", dtype=dtype)


def test_sweep_gives_one_record_per_batch_size(extraction):
    records = timing.sweep(
        *extraction, TEXTS, "tiny", "extraction", "cpu", batch_sizes=(1, 8), warmup_rounds=0
    )
    assert [r["batch_size"] for r in records] == [1, 8]
    assert all(r["n_texts"] == len(TEXTS) and r["rounds"] == 1 for r in records)


def test_forward_flops_count_linear_layers_per_token_and_attention(extraction):
    model, _ = extraction
    # tiny BERT: hidden 32, 2 layers, FFN 64; per layer and token q, k, v, o (4·32·32 MACs) and the
    # FFN (2·32·64 MACs); the pooler (32·32 MACs) once per text; attention 4·L²·32 FLOPs per layer.
    per_token = 2 * 2 * (4 * 32 * 32 + 2 * 32 * 64)
    per_text = 2 * 32 * 32
    attention = 2 * 4 * (3**2 + 5**2) * 32
    assert timing.forward_flops(model, [3, 5]) == per_token * 8 + per_text * 2 + attention


def test_gemm_peak_is_measured_once_per_device_and_dtype():
    first = timing.gemm_peak_gflops("cpu", "fp32")
    assert first > 0
    assert timing.gemm_peak_gflops(torch.device("cpu"), "fp32") == first


def test_speedups_compare_with_the_cpu_fp32_record_of_the_same_work():
    def record(device, dtype, batch_size, rate):
        return {
            "checkpoint": "m",
            "task": "extraction",
            "device": device,
            "dtype": dtype,
            "batch_size": batch_size,
            "texts_per_s": rate,
        }

    records = timing.add_speedups(
        [
            record("cpu", "fp32", 32, 100.0),
            record("cpu", "bf16", 32, 150.0),
            record("cuda", "fp16", 32, 2500.0),
            record("cuda", "fp16", 64, 4000.0),
        ]
    )
    assert "speedup_vs_cpu" not in records[0] and "speedup_vs_cpu" not in records[1]
    assert records[2]["speedup_vs_cpu"] == pytest.approx(25.0)
    assert records[3]["speedup_vs_cpu"] is None


def test_speed_settings_start_with_cpu_fp32(cpu_profile):
    settings = timing.speed_settings()
    assert settings[0] == ("cpu", "fp32")
    assert (("cpu", "bf16") in settings) == cpu_profile.native("bf16")
    assert all(dtype_supported(dtype, torch.device(device)) for device, dtype in settings)
    assert any(device == "cuda" for device, _ in settings) == torch.cuda.is_available()


def test_benchmark_speed_fills_extra_info(benchmark, extraction):
    timer = timing.BatchTimer(*extraction, "extraction", "cpu", batch_size=8)
    record = timing.benchmark_speed(benchmark, timer, TEXTS, "tiny", rounds=2, warmup_rounds=1)
    assert benchmark.extra_info["texts_per_s"] == record["texts_per_s"]
    assert benchmark.extra_info["latency_ms"] == record["latency_ms"]
    assert record["rounds"] in (1, 2)  # 1 where pytest-benchmark is disabled (xdist, --benchmark-disable)
