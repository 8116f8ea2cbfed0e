"""How fast a fine-tune trains: useful FLOP/s of its training epochs against the device's GEMM peak.

:class:`TrainingMeter` wraps the Trainer's data collator and rides along as a callback: it keeps the
unpadded length of every text of every training batch and the padded shape of the batch, and times
the training epochs (wall and process CPU time) apart from the evaluation that follows each epoch.
It reads the GEMM peak before training, after an epoch when :data:`PEAK_INTERVAL_S` of training have
passed since the last reading, and after training (:func:`~.timer.measure_gemm_peak`, outside the timed
epochs; about 0.35 s each), and compares with the best reading: one reading, taken at a quiet or a busy
moment of a shared machine, swings by ±7% (836-958 GFLOP/s in bf16 on the 2-core CI machine), and the
fine-tune's share with it; the best of several, spread over the run, is the roof the machine offered.
Useful work is 3× the forward FLOPs of the unpadded tokens (:func:`~.timer.forward_flops`; the
backward pass costs about twice the forward): padding, evaluation and data loading do not count,
so a faster fine-tune is one that spends its time on the tokens that matter.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

BACKWARD_FACTOR = 3  # forward + backward (gradients of activations and of weights) ≈ 3 forward passes
PEAK_INTERVAL_S = 30.0  # training seconds between two GEMM-peak readings at epoch ends (about 1% overhead)


class TrainingMeter:
    """A data collator (wrapping ``collator``) and a ``TrainerCallback`` (:meth:`callback`) in one."""

    def __init__(self, collator: Callable, device: torch.device, dtype: str):
        self.collator, self.device, self.dtype = collator, torch.device(device), dtype
        self.training = False
        self.lengths: list[int] = []  # unpadded tokens of every text of every training batch
        self.padded: list[tuple[int, int]] = []  # (texts, padded length) of every training batch
        self.train_s = self.cpu_s = 0.0
        self.peak_readings: list[float] = []  # GEMM peak (GFLOP/s) before, during and after training
        self._read_at = 0.0  # train_s at the last reading
        self._started: tuple[float, float] | None = None

    def __call__(self, features):
        batch = self.collator(features)
        if self.training:
            mask = batch["attention_mask"]
            self.lengths += mask.sum(dim=1).tolist()
            self.padded.append(tuple(mask.shape))
        return batch

    def start(self) -> None:
        self.training = True
        self._started = (time.perf_counter(), time.process_time())

    def stop(self) -> None:
        if self._started is not None:
            wall, cpu = self._started
            self.train_s += time.perf_counter() - wall
            self.cpu_s += time.process_time() - cpu
        self.training, self._started = False, None

    @property
    def unread_s(self) -> float:
        """Training seconds since the last GEMM-peak reading."""
        return self.train_s - self._read_at

    def read_peak(self) -> None:
        from .timer import measure_gemm_peak

        self.peak_readings.append(measure_gemm_peak(self.device, self.dtype))
        self._read_at = self.train_s

    def callback(self):
        """The ``TrainerCallback`` that times the training epochs (made here: transformers loads lazily)."""
        from transformers import TrainerCallback

        meter = self

        class TimeEpochs(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                meter.read_peak()

            def on_epoch_begin(self, args, state, control, **kwargs):
                meter.start()

            def on_epoch_end(self, args, state, control, **kwargs):
                meter.stop()
                if meter.unread_s >= PEAK_INTERVAL_S:
                    meter.read_peak()

            def on_train_end(self, args, state, control, **kwargs):
                if meter.unread_s > 0:
                    meter.read_peak()

        return TimeEpochs()

    def throughput(self, model, steps: int) -> dict:
        """The training-throughput record (docs/results.md) of what was metered, against the best GEMM
        peak reading (in the dtype the matrix products ran in; one is taken now if none was)."""
        from .timer import forward_flops

        if not self.peak_readings:
            self.read_peak()
        useful = BACKWARD_FACTOR * forward_flops(model, self.lengths)
        executed = BACKWARD_FACTOR * sum(forward_flops(model, [length] * n) for n, length in self.padded)
        achieved = useful / self.train_s / 1e9 if self.train_s else 0.0
        peak = max(self.peak_readings)
        return {
            "device": str(self.device),
            "dtype": self.dtype,
            "threads": torch.get_num_threads(),
            "steps": steps,
            "texts": len(self.lengths),
            "tokens": int(sum(self.lengths)),
            "padded_tokens": int(sum(n * length for n, length in self.padded)),
            "train_s": self.train_s,
            "cpu_s": self.cpu_s,
            "useful_gflop": useful / 1e9,
            "executed_gflop": executed / 1e9,
            "gflops": achieved,
            "gemm_peak_gflops": peak,
            "gemm_peak_readings": list(self.peak_readings),
            "peak_fraction": achieved / peak if peak else None,
        }
