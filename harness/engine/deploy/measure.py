"""Measuring every runtime of one fitted pair side by side, in one process, against ``torch-fp32``.

1. Each runtime is built from its artefact (load time) and predicts the whole evaluation split at
   the batch size (accuracy, weighted F1, agreement with the reference's predictions, max |Δp|);
   the resident memory it adds while loading and predicting is sampled (peak memory). The module's
   outputs are cached, keyed by the fitted weights, the runtime, the token ids and the batch size (and,
   as every cache key, the machine's instructions): a warm run reads them, and that run's peak memory.
2. Speed, in ``rounds`` interleaved rounds after an untimed one (every runtime once per round, the
   order reversed every other round, so a busy neighbour slows all of them alike; none starts past
   the time limit but the first): a pass over ``speed_texts`` texts at
   the batch size (texts/s, the best round counts) and ``latency_texts`` texts one at a time
   (per-text latency, percentiles over all rounds). Both time the whole path: tokenization,
   padding, the model and the probabilities.
3. Speed is reported as ratios to the reference measured in the same rounds; a runtime whose speed
   gate fails is measured again (with the reference) before the gate is decided. Contention over
   the timing rounds is recorded: interleaving evens out a busy neighbour only partly, since
   it slows torch's multi-threaded kernels (spinning at barriers) more than ONNX Runtime's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..budget import phase, timed
from ..inference import encode, length_sorted_batches, pad, pad_token_id
from ...results.runtimes import REFERENCE, RuntimeRecord
from .backends import QUANTIZATION, RUNTIMES, Builder, Built, temporary_workdir
from ..gates import SPEED_GATES, check_runtime
from .graphs import Graph

SPEED_TEXTS = 256
LATENCY_TEXTS = 64
ROUNDS = 2  # an even number: with the order reversed every other round, each runtime runs as often early as late
BATCH_SIZE = 32
TIME_LIMIT_S = 120.0  # timing rounds of one pair's runtimes start no later than this (RUNTIME_TIME_LIMIT)


@dataclass(frozen=True)
class MeasureSettings:
    """How runtimes are measured; a suite's ``RUNTIME_BATCH_SIZE``, ``RUNTIME_SPEED_TEXTS``,
    ``RUNTIME_LATENCY_TEXTS``, ``RUNTIME_ROUNDS`` and ``RUNTIME_TIME_LIMIT`` (seconds; None: no cap; all
    read by :class:`harness.engine.suite.Suite`)
    override the defaults."""

    batch_size: int = BATCH_SIZE
    speed_texts: int = SPEED_TEXTS
    latency_texts: int = LATENCY_TEXTS
    rounds: int = ROUNDS
    time_limit: float | None = TIME_LIMIT_S


class PeakMemory:
    """Resident memory added since entering, at its peak (sampled every millisecond), in MiB."""

    def __enter__(self):
        import psutil

        self._process = psutil.Process()
        self._start = self._peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)
        return False

    @property
    def added_mb(self) -> float:
        return (self._peak - self._start) / 2**20


def module_outputs(built: Built, graph: Graph, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """The module's outputs for ``texts``, in their order: tokenize, length-sorted batches padded to
    their own longest text, the runtime's predictor."""
    encoded = encode(graph.tokenizer, texts, graph.max_length)
    pad_id = pad_token_id(graph.tokenizer)
    out = None
    for index in length_sorted_batches(encoded.lengths, batch_size):
        ids, mask = pad([encoded.input_ids[i] for i in index], pad_id)
        outputs = np.asarray(built.predictor(ids.numpy(), mask.numpy()))
        if out is None:
            out = np.empty((len(texts), outputs.shape[1]), dtype=outputs.dtype)
        out[index] = outputs
    return out


def predict(built: Built, graph: Graph, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Class probabilities for ``texts``: the module's outputs through the graph's head."""
    return graph.head(module_outputs(built, graph, texts, batch_size))


def latencies_ms(built: Built, graph: Graph, texts: Sequence[str]) -> list[float]:
    """Milliseconds per text, one text at a time, end to end."""
    samples = []
    for text in texts:
        started = time.perf_counter()
        predict(built, graph, [text], 1)
        samples.append(1000 * (time.perf_counter() - started))
    return samples


@dataclass
class Timing:
    texts_per_s: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    @property
    def best_texts_per_s(self) -> float:
        return max(self.texts_per_s)

    @property
    def p50(self) -> float:
        return float(np.percentile(self.latency_ms, 50))


@timed("runtime speed rounds")
def time_rounds(
    runtimes: dict[str, Built],
    graph: Graph,
    texts,
    settings: MeasureSettings,
    timings: dict[str, Timing],
    rounds: int,
    deadline=None,
) -> None:
    """``rounds`` interleaved rounds of throughput and batch-1 latency for every runtime, after an
    untimed one (every shape the timed rounds run is warm: the batches of the throughput pass, one text
    of each token length of the latency texts); past ``deadline`` (a
    :class:`~harness.engine.timing.protocol.Deadline`) no round starts after the first."""
    speed_texts = list(texts[: settings.speed_texts])
    latency_texts = list(texts[: settings.latency_texts])
    warm = encode(graph.tokenizer, latency_texts, graph.max_length).first_of_each_length()
    one_per_length = [latency_texts[i] for i in warm]
    names = list(runtimes)
    for name in names:
        predict(runtimes[name], graph, speed_texts, settings.batch_size)
        latencies_ms(runtimes[name], graph, one_per_length)
    for number in range(rounds):
        if number and deadline is not None and deadline.reached("timing rounds"):
            break
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            started = time.perf_counter()
            predict(runtimes[name], graph, speed_texts, settings.batch_size)
            timings[name].texts_per_s.append(len(speed_texts) / (time.perf_counter() - started))
        for name in order:
            timings[name].latency_ms += latencies_ms(runtimes[name], graph, latency_texts)


def measure_runtimes(
    graph: Graph,
    describe: dict,
    names: Sequence[str],
    texts: Sequence[str],
    y_true: np.ndarray,
    labels: list[str],
    device,
    runtime,
    settings: MeasureSettings = MeasureSettings(),
    gates: dict[str, dict] | None = None,
    columns=None,
) -> list[RuntimeRecord]:
    """A record per runtime in ``names`` (the reference first, always measured): skipped ones carry
    the reason; measured ones their scores, costs, speed and gates (``gates``: name → thresholds).

    ``describe`` gives the records' ``suite``, ``checkpoint``, ``approach`` (id) and ``split``; ``columns``
    maps head outputs to label columns (``columns(proba) -> proba``)."""
    import torch

    from ..timing.protocol import ContentionMeter, Deadline

    device = torch.device(device)
    gates = gates or {}
    names = [REFERENCE, *(n for n in names if n != REFERENCE)]
    records: dict[str, RuntimeRecord] = {}
    runtimes: dict[str, Built] = {}
    outputs: dict[str, tuple[np.ndarray, float]] = {}
    input_ids = None if runtime is None else _ids_digest(encode(graph.tokenizer, texts, graph.max_length).input_ids)
    with temporary_workdir() as workdir:
        builder = Builder(graph, device, workdir, runtime)
        for name in names:
            spec = RUNTIMES[name]
            base = {
                **describe,
                "runtime": name,
                "backend": spec.backend,
                "dtype": spec.dtype,
                "device": str(device),
            }
            reason = spec.unsupported(device)
            if reason:
                records[name] = RuntimeRecord(**base, status="skipped", reason=reason)
                continue
            try:
                with PeakMemory() as memory:
                    with phase("runtime export", detail=name):
                        built = builder.build(spec)

                    def predicted() -> tuple[dict, dict]:
                        predict(built, graph, texts[: settings.batch_size], settings.batch_size)  # warm-up
                        outputs = module_outputs(built, graph, texts, settings.batch_size)
                        return {"outputs": outputs}, {"peak_memory_mb": memory.added_mb}

                    with phase("runtime predict", split=describe.get("split"), detail=name):
                        if runtime is None:
                            (arrays, meta), hit = predicted(), False
                        else:
                            parts = {**builder.build_parts(), "runtime_name": name, "quantization": QUANTIZATION,
                                     "input_ids": input_ids, "batch_size": settings.batch_size}
                            arrays, meta, hit = runtime.cached_arrays(
                                "runtime-predictions", parts, predicted, ("peak_memory_mb",)
                            )
                proba = graph.head(arrays["outputs"])
                built.predictions_cached = hit
            except Exception as e:  # noqa: BLE001 - an export that fails is this runtime's result, not the table's
                if name == REFERENCE:
                    raise
                first = (str(e).strip().splitlines() or [""])[0][:300]
                records[name] = RuntimeRecord(
                    **base, status="failed", reason=f"{name}: {type(e).__name__}: {first}"
                )
                continue
            runtimes[name] = built
            outputs[name] = (columns(proba) if columns else proba, meta["peak_memory_mb"])  # the predicting run's
        reference_proba = outputs[REFERENCE][0]

        def scored(name: str) -> RuntimeRecord:
            record = _record(
                runtimes[name], describe, outputs[name], reference_proba, y_true, labels, timings, settings
            )
            return _gated(record, gates.get(name, {}))

        timings = {name: Timing() for name in runtimes}
        deadline = Deadline(settings.time_limit)
        with ContentionMeter() as contention:
            time_rounds(runtimes, graph, texts, settings, timings, settings.rounds, deadline)
            records.update({name: scored(name) for name in runtimes})
            slow = [name for name in runtimes if name != REFERENCE and _failed_speed(records[name])]
            if slow:  # a busy neighbour is not a regression: measure again before failing
                again = {name: runtimes[name] for name in (REFERENCE, *slow)}
                time_rounds(again, graph, texts, settings, timings, settings.rounds, deadline)
                records.update({name: scored(name) for name in again})
    capped = deadline.capped()
    update = {"contention": contention.to_dict(), "capped": capped["reason"] if capped else None}
    return [records[name].model_copy(update=update) if name in runtimes else records[name] for name in names]


def _ids_digest(input_ids: list[list[int]]) -> str:
    digest = hashlib.sha256()
    for ids in input_ids:
        digest.update(np.asarray([len(ids), *ids], dtype=np.int64).tobytes())
    return digest.hexdigest()


def _gated(record: RuntimeRecord, thresholds: dict) -> RuntimeRecord:
    """The record with its gates checked and its status set from them."""
    record.gates = check_runtime(record, thresholds)
    record.status = "passed" if all(gate.passed for gate in record.gates) else "failed"
    return record


def _failed_speed(record: RuntimeRecord) -> bool:
    return any(not gate.passed and gate.metric in SPEED_GATES for gate in record.gates)


def _record(
    built: Built,
    describe: dict,
    output: tuple[np.ndarray, float],
    reference: np.ndarray,
    y_true,
    labels,
    timings: dict[str, Timing],
    settings: MeasureSettings,
) -> RuntimeRecord:
    from sklearn.metrics import f1_score

    proba, memory_mb = output
    predicted = proba.argmax(axis=1)
    accuracy = float((predicted == y_true).mean())
    timing, base = timings[built.spec.name], timings[REFERENCE]
    return RuntimeRecord(
        **describe,
        runtime=built.spec.name,
        status="passed",
        backend=built.spec.backend,
        dtype=built.spec.dtype,
        device=built.device,
        provider=built.provider,
        n_examples=len(y_true),
        batch_size=settings.batch_size,
        accuracy=accuracy,
        f1_weighted=float(
            f1_score(y_true, predicted, labels=range(len(labels)), average="weighted", zero_division=0)
        ),
        accuracy_drop=float((reference.argmax(axis=1) == y_true).mean()) - accuracy,
        agreement=float((predicted == reference.argmax(axis=1)).mean()),
        max_proba_diff=float(np.abs(proba - reference).max()),
        size_mb=built.size_bytes / 2**20,
        n_parameters=built.n_parameters,
        latency_ms={"p50": timing.p50, "p95": float(np.percentile(timing.latency_ms, 95))},
        texts_per_s=timing.best_texts_per_s,
        speedup=timing.best_texts_per_s / base.best_texts_per_s,
        latency_speedup=base.p50 / timing.p50,
        peak_memory_mb=max(memory_mb, 0.0),
        load_s=built.load_s,
        export_s=built.export_s,
        artefact_cached=built.artefact_cached,
        predictions_cached=built.predictions_cached,
        rounds=len(timing.texts_per_s),
        note=built.note,
    )
