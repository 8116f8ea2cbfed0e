"""Timing that gates without flaking: a model's speed as a ratio to a reference timed in the same windows.

A timing record (:func:`measure`) holds the usual wall-clock figures of :mod:`harness.engine.timing.timer`
(texts/s, per-batch latency) plus per-text latency at batch 1 and the **ratio**: workload rounds (one
pass of the model over the texts, tokenization included) alternate with rounds of a fixed reference
GEMM, ``R A R A … A R``; each workload round is divided by the mean of the reference rounds either
side of it, and the record keeps the median of these per-window ratios and their dispersion.

On CPU the ratio rounds run with one intra-op thread and are timed in the process's CPU time. A busy
neighbour stretches wall time (the emotion suite's texts/s fell 4x beside one), and a multi-threaded
pass burns CPU time spinning in barriers while a peer thread waits for a core (10x on a tiny model);
the CPU time of single-threaded work moves far less, and alike for workload and reference, while
extra work (a slower model, more padding, slower tokenization) moves it in full. On a 2-core machine
at load ~10 one measurement's ratio varies by about ±7%. On CUDA the rounds are timed in wall time
with the device synchronized; the host's neighbours matter little there.

Contention is reported, not corrected: the share of the time this process's threads were runnable
but waiting for a CPU, over the whole measurement (Linux ``/proc/self/task/*/schedstat``; None
elsewhere). Above :data:`CONTENTION_THRESHOLD` the wall-clock figures were measured on a busy machine.

The suite's timing gate (:func:`harness.engine.gates.gate_timing`) compares the ratio with the
baseline's and fails only when a re-measurement confirms a drop.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import TIME_LIMIT_S
from . import timer as timing

RATIO_ROUNDS = 3  # workload rounds at least; the reference runs one round more
RATIO_SECONDS = 0.5  # and at least this much workload time (clock seconds), up to MAX_RATIO_ROUNDS
BASELINE_RATIO_SECONDS = 3.0  # a baseline is measured once and compared with many times: longer
# Past those, a round more while the rounds' dispersion exceeds RATIO_SPREAD, up to SPREAD_ROUNDS. On the 2-core
# CI machine windows differ by 3-6% (interquartile range over median) even when quiet, and the gate allows a
# 30-40% drop: a 3% threshold ran 7 windows in most measurements for a median ~0.4% more precise.
RATIO_SPREAD = 0.05
SPREAD_ROUNDS = 5
MAX_RATIO_ROUNDS = 200
REFERENCE_ROUND_S = 0.25  # a reference round lasts as long as a warm workload round, at most this
CONTENTION_THRESHOLD = 0.1  # share of runnable time spent waiting for a CPU
LATENCY_PASSES = 1  # timed batch-1 passes over the texts
LATENCY_WARMUP_TEXTS = 2  # texts run at batch 1 before them: lazy initialization
REFERENCE_SIZE = {"cpu": 512, "cuda": 4096}  # square fp32 matrices of the reference product
LATENCY_CHUNK = 16  # batch-1 texts timed between two looks at the time limit


class Deadline:
    """A measurement's time limit (None: none). Each part that was cut short for it is noted, and
    :meth:`capped` says so in the record; every part keeps at least one timed round."""

    def __init__(self, seconds: float | None):
        if seconds is not None and seconds <= 0:
            raise ValueError(f"time limit: expected a positive number of seconds, got {seconds}")
        self.seconds = None if seconds is None else float(seconds)
        self.started = time.perf_counter()
        self.cut: list[str] = []

    def reached(self, part: str) -> bool:
        """Whether ``part`` must stop now; the first stop of each part is noted."""
        if self.seconds is None or time.perf_counter() - self.started < self.seconds:
            return False
        if part not in self.cut:
            self.cut.append(part)
        return True

    def capped(self) -> dict | None:
        """``{limit_s, elapsed_s, reason}`` when the limit cut a part short, else None."""
        if not self.cut:
            return None
        return {
            "limit_s": self.seconds,
            "elapsed_s": time.perf_counter() - self.started,
            "reason": f"time limit of {self.seconds:g} s reached: {', '.join(self.cut)} cut short",
        }


class ReferenceGemm:
    """A fixed fp32 matrix product on ``device``, repeated :attr:`repeats` times per call.

    Calling it returns the GFLOP it computed; :meth:`calibrate` sets the repeats so that a call
    takes about as long as the workload round it alternates with.
    """

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.size = REFERENCE_SIZE["cuda" if self.device.type == "cuda" else "cpu"]
        generator = torch.Generator().manual_seed(0)
        self.a, self.b = (
            torch.randn(self.size, self.size, generator=generator).to(self.device) for _ in range(2)
        )
        self.repeats = 1

    def __call__(self) -> float:
        for _ in range(self.repeats):
            self.a @ self.b
        timing.synchronize(self.device)
        return 2 * self.size**3 * self.repeats / 1e9

    def calibrate(self, seconds: float, clock: Callable[[], float]) -> None:
        """Repeats so that a call takes ``seconds`` (a warm workload round's duration)."""
        self.repeats = 1
        self()  # warm-up: kernel selection, lazy initialization
        start = clock()
        self()
        self.repeats = max(1, round(seconds / max(clock() - start, 1e-9)))


@dataclass(frozen=True)
class RatioMeasurement:
    """Per-round rates of the alternating workload and reference rounds, in ``clock`` seconds.

    ``reference_gflops`` has one round more than ``workload_texts_per_s``: reference round ``i`` and
    ``i + 1`` bracket workload round ``i``.
    """

    clock: str  # "cpu" (process CPU time, one intra-op thread) or "wall"
    workload_texts_per_s: tuple[float, ...]
    reference_gflops: tuple[float, ...]

    @property
    def window_reference(self) -> list[float]:
        ref = self.reference_gflops
        return [(ref[i] + ref[i + 1]) / 2 for i in range(len(self.workload_texts_per_s))]

    @property
    def ratios(self) -> list[float]:
        return [w / r for w, r in zip(self.workload_texts_per_s, self.window_reference, strict=True)]

    @property
    def ratio(self) -> float:
        return float(np.median(self.ratios))

    @property
    def dispersion(self) -> float:
        """Interquartile range of the per-window ratios over their median."""
        q1, q3 = np.percentile(self.ratios, [25, 75])
        return float((q3 - q1) / self.ratio)

    def fields(self) -> dict:
        rounds = zip(self.workload_texts_per_s, self.window_reference, self.ratios, strict=True)
        return {
            "ratio": self.ratio,
            "ratio_dispersion": self.dispersion,
            "ratio_clock": self.clock,
            "ratio_rounds": [
                {"texts_per_s": w, "reference_gflops": r, "ratio": q} for w, r, q in rounds
            ],
        }


@contextlib.contextmanager
def intra_op_threads(n: int):
    """Run the block with ``n`` torch intra-op threads; the previous number is restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def measure_ratio(
    timer: timing.BatchTimer,
    texts: Sequence[str],
    rounds: int = RATIO_ROUNDS,
    seconds: float = RATIO_SECONDS,
    deadline: Deadline | None = None,
) -> RatioMeasurement:
    """Alternate passes of ``timer``'s model over ``texts`` with reference GEMM rounds: at least
    ``rounds`` passes and ``seconds`` of them (a small model's passes are short), then a pass more
    while the rounds' dispersion exceeds :data:`RATIO_SPREAD` (up to :data:`SPREAD_ROUNDS`), at most
    :data:`MAX_RATIO_ROUNDS`, and no new pass once ``deadline`` is reached (one pass at least).

    The passes run on a copy of ``timer`` (its own passes are left alone), after an untimed pass
    (every shape of the pass warm: a first call's kernel selection or compilation is not the model's
    speed). A reference round lasts as long as a warm pass, at most :data:`REFERENCE_ROUND_S`: the
    reference samples the machine's state either side of a pass, its length does not change its rate.
    """
    deadline = deadline or Deadline(None)
    if rounds < 1:
        raise ValueError(f"ratio rounds: expected at least 1, got {rounds}")
    texts = list(texts)
    workload = replace(timer, passes=[])
    on_cpu = workload.device.type == "cpu"
    clock = time.process_time if on_cpu else time.perf_counter

    def rate(run: Callable[[], float]) -> tuple[float, float]:
        start = clock()
        done = run()
        elapsed = max(clock() - start, 1e-9)
        return done / elapsed, elapsed

    def workload_pass() -> float:
        workload(texts)
        return len(texts)

    def more(passes: list[float], references: list[float], elapsed: float) -> bool:
        if len(passes) < rounds or elapsed < seconds:
            return len(passes) < MAX_RATIO_ROUNDS
        so_far = RatioMeasurement("", tuple(passes), tuple(references))
        return len(passes) < SPREAD_ROUNDS and so_far.dispersion > RATIO_SPREAD

    with intra_op_threads(1) if on_cpu else contextlib.nullcontext():
        _, cold_s = rate(workload_pass)
        reference = ReferenceGemm(workload.device)
        reference.calibrate(min(cold_s, REFERENCE_ROUND_S), clock)  # a cold pass: at most as long
        references, passes, elapsed = [rate(reference)[0]], [], 0.0
        while more(passes, references, elapsed):
            if passes and deadline.reached("ratio rounds"):
                break
            texts_per_s, seconds_taken = rate(workload_pass)
            passes.append(texts_per_s)
            elapsed += seconds_taken
            if len(passes) == 1:
                reference.calibrate(min(seconds_taken, REFERENCE_ROUND_S), clock)  # sized on a warm pass
            references.append(rate(reference)[0])
    return RatioMeasurement("cpu" if on_cpu else "wall", tuple(passes), tuple(references))


def _thread_schedstats() -> dict[str, tuple[int, int]] | None:
    """Nanoseconds (running, runnable but waiting for a CPU) per thread of this process; None
    where the kernel does not report them."""
    try:
        threads = os.listdir("/proc/self/task")
    except OSError:
        return None
    stats = {}
    for tid in threads:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as f:
                running, waiting = f.read().split()[:2]
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        stats[tid] = (int(running), int(waiting))
    return stats or None


class ContentionMeter:
    """``with ContentionMeter() as meter: …`` measures how much of the block's runnable thread time
    was spent waiting for a CPU (:attr:`wait_share`; None where the kernel does not tell)."""

    def __init__(self, threshold: float = CONTENTION_THRESHOLD):
        self.threshold = threshold
        self.wait_share: float | None = None

    def __enter__(self) -> ContentionMeter:
        self._start = _thread_schedstats()
        return self

    def __exit__(self, *exc) -> None:
        end = _thread_schedstats()
        if self._start is None or end is None:
            return
        running = waiting = 0
        for tid, (run, wait) in end.items():
            run0, wait0 = self._start.get(tid, (0, 0))
            running, waiting = running + run - run0, waiting + wait - wait0
        if running + waiting > 0:
            self.wait_share = waiting / (running + waiting)

    @property
    def seen(self) -> bool | None:
        return None if self.wait_share is None else self.wait_share > self.threshold

    def to_dict(self) -> dict:
        return {"seen": self.seen, "runqueue_wait_share": self.wait_share, "threshold": self.threshold}


def one_per_shape(timer: timing.BatchTimer, texts: Sequence[str]) -> list[str]:
    """The first text of each token length in ``texts``: at batch 1 the shapes a pass over ``texts``
    runs, each once (at least :data:`LATENCY_WARMUP_TEXTS` texts)."""
    from ..inference import encode

    texts = list(texts)
    chosen = encode(timer.tokenizer, texts, timer._max_length).first_of_each_length()
    chosen += [i for i in range(len(texts)) if i not in chosen][: max(0, LATENCY_WARMUP_TEXTS - len(chosen))]
    return [texts[i] for i in sorted(chosen)]


def per_text_latency(
    timer: timing.BatchTimer,
    texts: Sequence[str],
    passes: int = LATENCY_PASSES,
    deadline: Deadline | None = None,
) -> dict:
    """Percentiles (ms) of the forward pass of one text at batch 1 over ``passes`` timed passes, after
    an untimed one over a text of every length among them (:func:`one_per_shape`: no first-call kernel
    selection in the timed passes); tokenization apart, like ``latency_ms``. Past ``deadline`` no new
    chunk of :data:`LATENCY_CHUNK` texts starts (one at least)."""
    deadline = deadline or Deadline(None)
    texts = list(texts)
    single = replace(timer, batch_size=1, passes=[])
    single(one_per_shape(timer, texts))
    chunks = [texts[i : i + LATENCY_CHUNK] for i in range(0, len(texts), LATENCY_CHUNK)] * passes
    for chunk in chunks:
        if len(single.passes) > 1 and deadline.reached("per-text latency"):
            break
        single(chunk)
    return timing.percentiles([1000 * s for p in single.passes[1:] for s in p.batch_s])


def measure(
    timer: timing.BatchTimer,
    texts: Sequence[str],
    checkpoint: str,
    rounds: int = 3,
    warmup_rounds: int = 1,
    ratio_rounds: int = RATIO_ROUNDS,
    ratio_seconds: float = RATIO_SECONDS,
    note: str | None = None,
    benchmark=None,
    time_limit: float | None = TIME_LIMIT_S,
) -> dict:
    """The timing record of ``timer`` on ``texts`` with the protocol's fields.

    The usual record (:meth:`harness.engine.timing.timer.BatchTimer.record`: ``rounds`` timed passes after
    ``warmup_rounds``, through pytest-benchmark when ``benchmark`` is given, which allows one call
    per test) plus ``latency_per_text_ms`` (:func:`per_text_latency`), ``ratio``,
    ``ratio_dispersion``, ``ratio_clock``, ``ratio_rounds`` (:func:`measure_ratio` with
    ``ratio_rounds`` and ``ratio_seconds``), ``contention`` (:class:`ContentionMeter` around all of
    it), ``remeasured`` (False; True on the gate's re-measurement) and ``capped`` (:class:`Deadline`:
    None, or why ``time_limit`` seconds cut parts short; None: no limit).
    """
    texts = list(texts)
    deadline = Deadline(time_limit)
    with ContentionMeter() as contention:
        if benchmark is None:
            record = timing.measure(timer, texts, checkpoint, rounds, warmup_rounds, note, deadline)
        else:
            record = timing.benchmark_speed(benchmark, timer, texts, checkpoint, rounds, warmup_rounds, note)
        latency = per_text_latency(timer, texts, deadline=deadline)
        ratio = measure_ratio(timer, texts, ratio_rounds, ratio_seconds, deadline)
    added = {
        "latency_per_text_ms": latency,
        **ratio.fields(),
        "contention": contention.to_dict(),
        "remeasured": False,
        "capped": deadline.capped(),
    }
    record.update(added)
    if benchmark is not None:
        benchmark.extra_info.update(added)
    return record
