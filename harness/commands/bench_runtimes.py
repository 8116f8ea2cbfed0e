"""``harness bench --runtimes``: a fitted pair run by every deployment runtime, side by side.

The pair is fitted (or read from the cache) the way a suite fits it: with ``--suite FILE`` its
dataset, approaches, ``RUNTIMES``, ``RUNTIME_GATES`` and runtime settings come from that suite module
(``--approach`` picks approaches by id); without one, ``finetune`` with its default hyperparameters
and every runtime. Then :mod:`harness.engine.deploy` measures the runtimes against torch-fp32 in this process.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UsageError
from ..results.bench import (
    BenchPair,
    BenchRuntimesDocument,
    RuntimeBenchSettings,
    RuntimeFigures,
    RuntimeNotMeasured,
)
from ..results.runtimes import REFERENCE, RuntimeRecord

def pairs_to_measure(args) -> tuple[object | None, list[tuple[object, list[str]]]]:
    """(the suite (:class:`harness.engine.suite.Suite`) or None, [(approach spec, runtime names)]) that
    ``args`` asks for."""
    from ..engine.approaches import DEPLOYED_BY_DEFAULT, approach_spec
    from ..engine.deploy.backends import RUNTIMES

    chosen = args.runtime or None
    if args.suite is None:
        return None, [(approach_spec(args.approach or DEPLOYED_BY_DEFAULT), chosen or list(RUNTIMES))]
    from ..engine.suite import SuiteError, load_suite

    try:
        suite = load_suite(args.suite)
    except SuiteError as e:
        raise UsageError(f"--suite {e}") from None
    declared = {spec.id: suite.runtimes_for(args.checkpoint, spec) for spec in suite.approaches}
    pairs = [
        (spec, chosen or declared[spec.id])
        for spec in suite.approaches
        if declared[spec.id] and (args.approach is None or spec.id == args.approach)
    ]
    if not pairs:
        raise UsageError(f"{args.suite} declares no runtimes for {args.approach or 'any approach'}")
    return suite, pairs


def ratios(record: RuntimeRecord, reference: RuntimeRecord) -> RuntimeFigures | RuntimeNotMeasured:
    """The runtime's figures and ratios to torch-fp32, or why it has none."""
    if not record.measured:
        return RuntimeNotMeasured(status=record.status, reason=record.reason)
    return RuntimeFigures.of(record, reference)


def run(args) -> BenchRuntimesDocument:
    """Fit (or load) each pair and measure its runtimes; the bench document."""
    import torch

    from ..engine.cache import Cache
    from ..engine.checkpoints import resolve_checkpoint, select_device
    from ..engine.data import load_dataset
    from ..engine.deploy.measure import MeasureSettings
    from ..engine.deploy.pair import measure_pair
    from ..engine.evaluation import ensure_fitted, evaluate
    from ..engine.runtime import Runtime

    if args.threads:
        torch.set_num_threads(args.threads)
    suite, pairs = pairs_to_measure(args)
    settings = suite.measure_settings() if suite is not None else MeasureSettings()
    if args.batch_size:
        settings = dataclasses.replace(settings, batch_size=args.batch_size)
    dataset_name = suite.dataset if suite is not None else args.dataset
    checkpoint = resolve_checkpoint(args.checkpoint, args.model_dir)
    dataset = load_dataset(dataset_name, args.data_dir)
    device = select_device(args.device)
    runtime = Runtime(device=str(device), cache=Cache(args.cache_dir))
    suite_name = suite.name if suite is not None else "bench"
    train_texts, train_y = list(dataset["train"]["text"]), np.asarray(dataset["train"]["label"])
    measured_pairs = []
    for spec, names in pairs:  # a HarnessError is the command's one line (exit 2)
        evaluation = evaluate(
            suite_name, dataset_name, dataset, checkpoint, spec, runtime, "train", args.split
        )
        ensure_fitted(evaluation, train_texts, train_y)  # on the whole split: the fit the suite makes
        measured = evaluation
        if args.limit is not None:  # then only the first texts are scored and timed
            measured = dataclasses.replace(
                evaluation, texts=evaluation.texts[: args.limit], y_true=evaluation.y_true[: args.limit]
            )
        gates = suite.runtime_gates_for(args.checkpoint, spec) if suite is not None else {}
        records = measure_pair(measured, names, train_texts, train_y, gates, settings)
        reference = next(r for r in records if r.runtime == REFERENCE)
        measured_pairs.append(
            BenchPair(
                approach=spec.id,
                pair_accuracy=evaluation.metrics.accuracy,
                runtimes={r.runtime: ratios(r, reference) for r in records},
            )
        )
    return BenchRuntimesDocument(
        checkpoint=args.checkpoint,
        dataset=dataset_name,
        split=args.split,
        n_texts=min(len(dataset[args.split]), args.limit or len(dataset[args.split])),
        device=str(device),
        torch_threads=torch.get_num_threads(),
        settings=RuntimeBenchSettings(**dataclasses.asdict(settings)),
        pairs=measured_pairs,
    )


def render(doc: BenchRuntimesDocument) -> str:
    """The figures as plain-text tables, one per pair."""
    from tabulate import tabulate

    lines = [
        f"{doc.checkpoint} · {doc.dataset}/{doc.split} · {doc.n_texts} texts · {doc.device} "
        f"({doc.torch_threads} threads) · batch {doc.settings.batch_size} · {doc.settings.rounds} rounds"
    ]
    headers = [
        "runtime",
        "accuracy",
        "agreement",
        "max |Δp|",
        "size MiB",
        "× size",
        "texts/s",
        "× texts/s",
        "p50 ms",
        "p95 ms",
        "× p50",
        "memory MiB",
        "load s",
        "gates",
    ]
    for pair in doc.pairs:
        rows, skipped = [], []
        for name, m in pair.runtimes.items():
            if isinstance(m, RuntimeNotMeasured):
                skipped.append(f"  {m.status}: {m.reason}")
                continue
            failed = [g for g in m.gates if not g.passed]
            rows.append(
                [
                    name,
                    f"{m.accuracy:.4f}",
                    f"{100 * m.agreement:.2f}%",
                    f"{m.max_proba_diff:.1e}",
                    f"{m.size_mb:.1f}",
                    f"{m.size_ratio:.2f}",
                    f"{m.texts_per_s:.1f}",
                    f"{m.texts_per_s_ratio:.2f}",
                    f"{m.latency_ms_p50:.2f}",
                    f"{m.latency_ms_p95:.2f}",
                    f"{m.latency_p50_ratio:.2f}",
                    f"{m.peak_memory_mb:.0f}",
                    f"{m.load_s:.2f}",
                    "passed" if not failed else "; ".join(f"{g.metric} {g.value:.4g}" for g in failed),
                ]
            )
        lines += [
            "",
            f"{pair.approach} (pair accuracy {pair.pair_accuracy:.4f})",
            tabulate(rows, headers, disable_numparse=True),
            *skipped,
        ]
    return "\n".join(lines)
