"""Speed measured by the harness for every checkpoint of a suite: throughput and latency per device/dtype.

For each resolved checkpoint, task (``extraction``: pooled hidden states; ``inference``: class
probabilities) and (device, dtype) setting, one record at the suite's batch size (texts/s, tokens/s,
per-batch latency) with per-text latency at batch 1 and the ratio to an in-process reference
(:mod:`harness.engine.timing.protocol`). Settings the machine cannot run natively are skipped with the
reason. Models are loaded once per (checkpoint, task, device) and reused.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import TIME_LIMIT_S

SETTINGS = [("cpu", "fp32"), ("cpu", "bf16"), ("cuda", "fp32"), ("cuda", "fp16"), ("cuda", "bf16")]
TASKS = ("extraction", "inference")
DTYPES = ("fp32", "bf16", "fp16", "auto")  # auto: what a pair's ``auto`` runtime runs in (bf16 where native)
TEXTS = 32  # evaluation texts timed: a few seconds for every setting
BATCH_SIZE = 32
ROUNDS = 2


@dataclass(frozen=True)
class SpeedSettings:
    """A suite's speed settings: its ``SPEED_TEXTS``, ``SPEED_BATCH_SIZE``, ``SPEED_TASKS``,
    ``SPEED_SETTINGS`` and ``SPEED_TIME_LIMIT`` (seconds per measurement, None: no cap; all read by
    :class:`harness.engine.suite.Suite`) override the defaults."""

    texts: int = TEXTS
    batch_size: int = BATCH_SIZE
    tasks: tuple[str, ...] = TASKS
    settings: tuple[tuple[str, str], ...] = tuple(SETTINGS)
    time_limit: float | None = TIME_LIMIT_S

    def cases(self) -> list[tuple[str, str, str]]:
        """(task, device, dtype) for every test, ``auto`` resolved for this machine; a setting that
        resolves to one already listed is timed once."""
        settings = dict.fromkeys((device, resolved_dtype(device, dtype)) for device, dtype in self.settings)
        return [(task, device, dtype) for task in self.tasks for device, dtype in settings]


def setting_problem(setting) -> str | None:
    """What is wrong with one ``SPEED_SETTINGS`` entry (a (device, dtype) pair), or None."""
    if not isinstance(setting, (tuple, list)) or len(setting) != 2:
        return f"{setting!r} is not a (device, dtype) pair"
    device, dtype = setting
    if not (device in ("cpu", "cuda") or (isinstance(device, str) and device.startswith("cuda:")
                                          and device[5:].isdigit())):
        return f"device {device!r} in {tuple(setting)!r} is not cpu, cuda or cuda:N"
    if dtype not in DTYPES:
        return f"dtype {dtype!r} in {tuple(setting)!r} is not one of {', '.join(DTYPES)}"
    return None


def resolved_dtype(device: str, dtype: str) -> str:
    """``dtype``, with ``auto`` resolved as a pair's runtime resolves it: bf16 where ``device`` runs it
    natively, else fp32 (left ``auto`` where the device is absent: that setting is skipped)."""
    if dtype != "auto" or unsupported(device, "fp32"):
        return dtype
    return "fp32" if unsupported(device, "bf16") else "bf16"


def unsupported(device: str, dtype: str) -> str | None:
    """Why this machine cannot time ``dtype`` on ``device`` natively, or None."""
    import torch

    from ..inference import dtype_supported

    if device.startswith("cuda") and not torch.cuda.is_available():
        return "no CUDA device"
    if not dtype_supported(dtype, torch.device(device)):
        return f"{dtype} is not supported natively on {device} here"
    return None


def measure(benchmark, checkpoint, texts, task: str, device: str, dtype: str, batch_size: int,
            models: dict, num_labels: int, for_baseline: bool = False,
            time_limit: float | None = TIME_LIMIT_S) -> dict:
    """The timing record at ``batch_size`` (through pytest-benchmark unless ``benchmark`` is None)
    with the timing protocol's fields: per-text latency at batch 1, the ratio to a reference timed
    in alternating rounds (longer ``for_baseline``), contention, and ``capped`` when ``time_limit``
    seconds cut it short. Inference runs a head of ``num_labels`` classes (the dataset's)."""
    from . import timer as timing
    from . import protocol as timing_protocol

    key = (checkpoint.id, task, device, num_labels)
    if key not in models:
        models[key] = (timing.load_model(checkpoint, task, device, num_labels), checkpoint.load_tokenizer())
    model, tokenizer = models[key]
    note = "randomly initialized classification head" if task == "inference" else None
    timer = timing.BatchTimer(model, tokenizer, task, device, dtype, batch_size)
    seconds = timing_protocol.BASELINE_RATIO_SECONDS if for_baseline else timing_protocol.RATIO_SECONDS
    return timing_protocol.measure(
        timer, texts, checkpoint.id, rounds=ROUNDS, ratio_seconds=seconds, note=note, benchmark=benchmark,
        time_limit=time_limit,
    )
