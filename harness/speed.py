"""Speed measured by the harness for every checkpoint of a suite: throughput and latency per device/dtype.

For each resolved checkpoint, task (``extraction``: pooled hidden states; ``inference``: class
probabilities) and (device, dtype) setting, one record at the suite's batch size (texts/s, tokens/s,
per-batch latency) and one at batch 1 (per-text latency). Settings the machine cannot run natively
are skipped with the reason. Models are loaded once per (checkpoint, task, device) and reused.
"""

from __future__ import annotations

from dataclasses import dataclass

SETTINGS = [("cpu", "fp32"), ("cpu", "bf16"), ("cuda", "fp32"), ("cuda", "fp16"), ("cuda", "bf16")]
TASKS = ("extraction", "inference")
TEXTS = 32  # evaluation texts timed: a few seconds for every setting
BATCH_SIZE = 32
ROUNDS = 2


@dataclass(frozen=True)
class SpeedSettings:
    """A suite's speed settings: module attributes ``SPEED_TEXTS``, ``SPEED_BATCH_SIZE``,
    ``SPEED_TASKS`` and ``SPEED_SETTINGS`` override the defaults."""

    texts: int = TEXTS
    batch_size: int = BATCH_SIZE
    tasks: tuple[str, ...] = TASKS
    settings: tuple[tuple[str, str], ...] = tuple(SETTINGS)

    @classmethod
    def of(cls, module) -> SpeedSettings:
        return cls(
            texts=getattr(module, "SPEED_TEXTS", TEXTS),
            batch_size=getattr(module, "SPEED_BATCH_SIZE", BATCH_SIZE),
            tasks=tuple(getattr(module, "SPEED_TASKS", TASKS)),
            settings=tuple(tuple(s) for s in getattr(module, "SPEED_SETTINGS", SETTINGS)),
        )

    def cases(self) -> list[tuple[str, str, str]]:
        """(task, device, dtype) for every test."""
        return [(task, device, dtype) for task in self.tasks for device, dtype in self.settings]


def unsupported(device: str, dtype: str) -> str | None:
    """Why this machine cannot time ``dtype`` on ``device`` natively, or None."""
    import torch

    from .inference import dtype_supported

    if device.startswith("cuda") and not torch.cuda.is_available():
        return "no CUDA device"
    if not dtype_supported(dtype, torch.device(device)):
        return f"{dtype} is not supported natively on {device} here"
    return None


def measure(benchmark, checkpoint, texts, task: str, device: str, dtype: str, batch_size: int,
            models: dict) -> list[dict]:
    """Timing records at ``batch_size`` (through pytest-benchmark) and at batch 1 (per-text latency)."""
    from . import timing

    key = (checkpoint.id, task, device)
    if key not in models:
        models[key] = (timing.load_model(checkpoint, task, device), checkpoint.load_tokenizer())
    model, tokenizer = models[key]
    note = "randomly initialized classification head" if task == "inference" else None
    timer = timing.BatchTimer(model, tokenizer, task, device, dtype, batch_size)
    record = timing.benchmark_speed(benchmark, timer, texts, checkpoint.id, rounds=ROUNDS, warmup_rounds=1, note=note)
    single = timing.sweep(model, tokenizer, texts, checkpoint.id, task, device, dtype, (1,), warmup_rounds=0, note=note)
    benchmark.extra_info["latency_ms_batch_1"] = single[0]["latency_ms"]
    return [record, *single] if batch_size != 1 else [record]
