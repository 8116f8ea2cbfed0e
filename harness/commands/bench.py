"""``harness bench``: feature-extraction throughput of the harness against the usual ways.

On the same texts and the same model, in one process, each after an untimed warm-up pass over them:

- ``seed``: the book's recipe the harness started from: ``Dataset.map`` tokenizes with
  ``padding=True`` (map's default batches of 1000 texts), a second ``map`` runs the model under
  ``no_grad`` on those batches and keeps ``last_hidden_state[:, 0]``;
- ``pipeline``: ``transformers.pipeline("feature-extraction")`` with its defaults, CLS vector;
- ``sentence-transformers``: ``SentenceTransformer.encode`` (when installed); its output is its own
  pooling (mean, normalized for MiniLM), so its max difference is taken against the harness's fp32
  mean pooling, both L2-normalized;
- ``harness-<dtype>``: :mod:`harness.engine.inference` in fp32 and in each low-precision dtype the device
  runs natively (bf16 on a CPU with AVX-512 BF16/AMX; fp16 and bf16 on CUDA).

Every time includes tokenization. GFLOP/s count the useful work (:func:`harness.engine.timing.timer.forward_flops`
on unpadded lengths), against a GEMM peak measured here. ``--sweep N`` adds timing records for
batch sizes 1…128 on N texts, CPU and CUDA side by side; ``--accuracy`` fits logistic regression on
mean-pooled train features in each dtype and prints validation accuracy.

``--runtimes`` measures deployment runtimes instead (:mod:`harness.commands.bench_runtimes`): a fitted
pair run by torch fp32/bf16/int8 and ONNX Runtime fp32/int8, accuracy, agreement, size and speed
against torch-fp32.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..engine.approaches.features import pool
from ..engine.checkpoints import resolve_checkpoint, select_device
from ..engine.data import load_dataset
from ..engine.inference import collect, dtype_supported, encode, forward_batches, model_max_length, pad_token_id
from ..engine.runtime import BATCH_SIZE
from ..engine.timing.timer import add_speedups, forward_flops, gemm_peak_gflops, speed_settings, sweep
from ..errors import UsageError
from ..results.bench import BenchDocument, MethodFigures, SweepRecord
from ..results.io import write_json
from . import non_negative_int, one_error_path, positive_int
from . import parser as one_line_parser

DEFAULT_CHECKPOINT = "sentence-transformers/all-MiniLM-L6-v2"
SEED = "seed"


def parse_args(argv=None) -> argparse.Namespace:
    parser = one_line_parser("harness bench", __doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="id or local directory")
    parser.add_argument("--model-dir", default=os.environ.get("HARNESS_MODEL_DIR"), help="local checkpoints")
    parser.add_argument("--dataset", default="emotion", help="known name, hub id or local directory")
    parser.add_argument(
        "--data-dir", default=os.environ.get("HARNESS_DATA_DIR"), help="local dataset mirrors"
    )
    parser.add_argument("--split", default="validation", help="the split whose texts are timed")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--batch-size", type=positive_int, default=None,
        help=f"the harness's batch size (default {BATCH_SIZE}; "
        "--runtimes: the suite's RUNTIME_BATCH_SIZE, else 32)"
    )
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="use only the first N texts of each split "
                        "(--runtimes: of the evaluation split, after the fit)")
    parser.add_argument("--sweep", type=non_negative_int, default=0, metavar="N",
                        help="batch-size sweep on N texts")
    parser.add_argument(
        "--accuracy", action="store_true", help="validation accuracy of fp32 vs low precision"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the figures as JSON")
    runtimes = parser.add_argument_group("deployment runtimes (--runtimes)")
    runtimes.add_argument("--runtimes", action="store_true", help="measure a fitted pair's runtimes")
    runtimes.add_argument("--suite", type=Path, default=None, help="approaches and RUNTIMES from this suite")
    runtimes.add_argument("--approach", default=None, help="approach id (default: the suite's, or finetune)")
    runtimes.add_argument(
        "--runtime", action="append", default=None, help="runtime (repeatable; default: RUNTIMES, else all)"
    )
    runtimes.add_argument("--cache-dir", default=None, help="default: $HARNESS_CACHE_DIR, ~/.cache/harness")
    runtimes.add_argument("--threads", type=positive_int, default=None, help="torch and ONNX Runtime threads")
    args = parser.parse_args(argv)
    if not args.runtimes and args.batch_size is None:
        args.batch_size = BATCH_SIZE
    return args


def seed_features(model, tokenizer, texts, device) -> np.ndarray:
    """The seed's code path (the book's chapter 2): padded ``Dataset.map`` batches of 1000, CLS."""
    import datasets

    def tokenize(batch):
        return tokenizer(batch["text"], padding=True, truncation=True)

    def extract_hidden_states(batch):
        inputs = {k: v.to(device) for k, v in batch.items() if k in tokenizer.model_input_names}
        with torch.no_grad():
            last_hidden_state = model(**inputs).last_hidden_state
        return {"hidden_state": last_hidden_state[:, 0].cpu().numpy()}

    encoded = datasets.Dataset.from_dict({"text": list(texts)}).map(tokenize, batched=True)
    encoded.set_format("torch", columns=[c for c in encoded.column_names if c in tokenizer.model_input_names])
    hidden = encoded.map(extract_hidden_states, batched=True)
    return np.asarray(hidden.with_format("numpy")["hidden_state"], dtype=np.float32)


def pipeline_features(model, tokenizer, texts, device) -> np.ndarray:
    """``pipeline("feature-extraction")`` with its defaults (one text at a time), CLS vector."""
    from transformers import pipeline

    extract = pipeline("feature-extraction", model=model, tokenizer=tokenizer, device=device)
    outputs = extract(list(texts), truncation=True, return_tensors=True)
    return np.stack([output[0, 0].float().numpy() for output in outputs])


def harness_features(model, tokenizer, texts, device, dtype="fp32", batch_size=32) -> dict[str, np.ndarray]:
    """:mod:`harness.engine.inference`: length-sorted, dynamically padded batches; CLS and mean pooling."""
    limit = model_max_length(tokenizer, model.config.max_position_embeddings)
    encoded = encode(tokenizer, texts, limit)
    batches = forward_batches(model, encoded, pad_token_id(tokenizer), batch_size, device, pool, dtype=dtype)
    return collect(batches, len(texts))


def sentence_transformer(location: str, device):
    """A ``SentenceTransformer`` for the checkpoint, or None when the package is not installed."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    return SentenceTransformer(location, device=str(device))


def normalized(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)


def timed(fn: Callable[[list[str]], np.ndarray], texts: list[str]):
    """Output and seconds of ``fn(texts)``, after an untimed call on the same texts: every shape the
    timed call runs is warm (a first call's kernel selection is not the method's speed)."""
    fn(texts)
    start = time.perf_counter()
    output = fn(texts)
    return output, time.perf_counter() - start


def split_texts(dataset, args, split: str) -> tuple[list[str], np.ndarray]:
    """Texts and label ids of ``split`` (its first ``args.limit`` examples when a limit is set)."""
    if split not in dataset:
        raise UsageError(f"dataset {args.dataset!r} has no split {split!r}; it has {sorted(dataset)}")
    part = (
        dataset[split]
        if args.limit is None
        else dataset[split].select(range(min(args.limit, len(dataset[split]))))
    )
    return list(part["text"]), np.asarray(part["label"])


def throughput(args, checkpoint, model, tokenizer, texts, device) -> dict:
    """Time every method on ``texts``; the GEMM peaks, the useful GFLOP and the figures per method."""
    # name → (seconds, dtype, max |Δ| of its features, what they are compared with)
    timed_methods: dict[str, tuple[float, str, float, str]] = {}
    cls_seed, seconds = timed(lambda t: seed_features(model, tokenizer, t, device), texts)
    timed_methods[SEED] = (seconds, "fp32", 0.0, SEED)
    cls_pipeline, seconds = timed(lambda t: pipeline_features(model, tokenizer, t, device), texts)
    timed_methods["pipeline"] = (seconds, "fp32", float(np.abs(cls_pipeline - cls_seed).max()), SEED)
    harness_fp32 = None
    for dtype in ("fp32", "fp16", "bf16"):
        if not dtype_supported(dtype, device):
            continue
        features, seconds = timed(
            lambda t, d=dtype: harness_features(model, tokenizer, t, device, d, args.batch_size),
            texts,
        )
        harness_fp32 = harness_fp32 if harness_fp32 is not None else features
        difference = float(np.abs(features["cls"] - cls_seed).max())
        timed_methods[f"harness-{dtype}"] = (seconds, dtype, difference, SEED)
    encoder = sentence_transformer(checkpoint.location, device)
    if encoder is not None:
        embeddings, seconds = timed(lambda t: encoder.encode(t, convert_to_numpy=True), texts)
        difference = float(np.abs(normalized(embeddings) - normalized(harness_fp32["mean"])).max())
        timed_methods["sentence-transformers"] = (
            seconds, "fp32", difference, "harness-fp32 mean pooling, both L2-normalized"
        )
    limit = model_max_length(tokenizer, model.config.max_position_embeddings)
    flops = forward_flops(model, encode(tokenizer, texts, limit).lengths)
    peaks = {dtype: gemm_peak_gflops(device, dtype) for dtype in {m[1] for m in timed_methods.values()}}
    seed_rate = len(texts) / timed_methods[SEED][0]
    methods = {}
    for name, (seconds, dtype, difference, against) in timed_methods.items():
        rate, achieved = len(texts) / seconds, flops / seconds / 1e9
        methods[name] = MethodFigures(
            seconds=seconds,
            dtype=dtype,
            max_abs_diff=difference,
            compared_with=against,
            texts_per_s=rate,
            ratio_vs_seed=rate / seed_rate,
            achieved_gflops=achieved,
            peak_fraction=achieved / peaks[dtype],
        )
    return {"gemm_peak_gflops": peaks, "gflop": flops / 1e9, "methods": methods}


def accuracy(args, dataset, model, tokenizer, device) -> dict[str, float]:
    """Validation accuracy of logistic regression on mean-pooled train features, per dtype."""
    from sklearn.linear_model import LogisticRegression

    train_texts, train_labels = split_texts(dataset, args, "train")
    eval_texts, eval_labels = split_texts(dataset, args, args.split)
    scores = {}
    for dtype in ("fp32", "fp16", "bf16"):
        if dtype_supported(dtype, device):
            train = harness_features(model, tokenizer, train_texts, device, dtype, args.batch_size)["mean"]
            held_out = harness_features(model, tokenizer, eval_texts, device, dtype, args.batch_size)["mean"]
            classifier = LogisticRegression(max_iter=3000).fit(train, train_labels)
            scores[dtype] = float((classifier.predict(held_out) == eval_labels).mean())
    return scores


def run(args) -> BenchDocument:
    """Every measurement ``args`` asks for, as the bench document."""
    checkpoint = resolve_checkpoint(args.checkpoint, args.model_dir)
    device = select_device(args.device)
    tokenizer = checkpoint.load_tokenizer()
    model = checkpoint.load_model().to(device).eval()
    dataset = load_dataset(args.dataset, args.data_dir)
    texts, _ = split_texts(dataset, args, args.split)
    figures = throughput(args, checkpoint, model, tokenizer, texts, device)
    records: list[dict] = []
    if args.sweep:
        models = {device.type: model}
        for device_name, dtype in speed_settings():
            if device_name not in models:
                models[device_name] = checkpoint.load_model().to(device_name).eval()
            records += sweep(
                models[device_name],
                tokenizer,
                texts[: args.sweep],
                args.checkpoint,
                "extraction",
                device_name,
                dtype,
            )
    return BenchDocument(
        checkpoint=args.checkpoint,
        dataset=args.dataset,
        split=args.split,
        n_texts=len(texts),
        device=str(device),
        batch_size=args.batch_size,
        torch_threads=torch.get_num_threads(),
        **figures,
        sweep=[SweepRecord.model_validate(record) for record in add_speedups(records)],
        accuracy=accuracy(args, dataset, model, tokenizer, device) if args.accuracy else {},
    )


def render(doc: BenchDocument) -> str:
    """The figures as a plain-text table."""
    from tabulate import tabulate

    rows = [
        [
            name,
            f"{m.texts_per_s:.1f}",
            f"{m.ratio_vs_seed:.2f}",
            f"{m.achieved_gflops:.1f}",
            f"{100 * m.peak_fraction:.0f}% of {doc.gemm_peak_gflops[m.dtype]:.0f}",
            f"{m.max_abs_diff:.2e}",
            m.compared_with,
        ]
        for name, m in doc.methods.items()
    ]
    headers = ["method", "texts/s", "× seed", "GFLOP/s", "of GEMM peak", "max |Δ|", "max |Δ| against"]
    lines = [
        f"{doc.checkpoint} · {doc.dataset}/{doc.split} · {doc.n_texts} texts · "
        f"{doc.device} ({doc.torch_threads} threads) · harness batch {doc.batch_size} · "
        f"{doc.gflop:.0f} GFLOP of useful work",
        tabulate(rows, headers, disable_numparse=True),
    ]
    if doc.sweep:
        sweep_rows = [
            [r.device, r.dtype, r.batch_size, f"{r.texts_per_s:.1f}"]
            + [f"{r.latency_ms[q]:.1f}" for q in ("p50", "p90", "p95", "p99")]
            + [f"{r.tokenize_ms:.2f}", f"{r.peak_rss_mb:.0f}", _optional(r.speedup_vs_cpu)]
            for r in doc.sweep
        ]
        sweep_headers = [
            "device",
            "dtype",
            "batch",
            "texts/s",
            "p50 ms",
            "p90 ms",
            "p95 ms",
            "p99 ms",
            "tokenize p50 ms",
            "peak RSS MB",
            "× CPU",
        ]
        lines += [
            f"\nbatch-size sweep on {doc.sweep[0].n_texts} texts (latency per batch)",
            tabulate(sweep_rows, sweep_headers, disable_numparse=True),
        ]
    if doc.accuracy:
        scores = ", ".join(f"{dtype} {value:.4f}" for dtype, value in doc.accuracy.items())
        lines.append(f"\nvalidation accuracy, logistic regression on mean-pooled features: {scores}")
    return "\n".join(lines)


def _optional(value) -> str:
    return "" if value is None else f"{value:.2f}"


@one_error_path("bench")
def main(argv=None) -> int:
    import datasets

    datasets.disable_progress_bars()
    args = parse_args(argv)
    if args.json is not None:
        check_writable(args.json)  # before minutes of measuring, not after
    measure, show = run, render
    if args.runtimes:
        from .bench_runtimes import render as show
        from .bench_runtimes import run as measure
    doc = measure(args)
    print(show(doc))
    if args.json is not None:
        write_document(args.json, doc)
    return 0


def check_writable(path: Path) -> None:
    """A ``--json`` path that cannot be written (a folder, under a file, in a read-only folder) is a
    usage error before anything is measured."""
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if existing == path and path.is_dir():
        raise UsageError(f"--json {path}: is a directory; expected a file path")
    if existing != path and not existing.is_dir():
        raise UsageError(f"--json {path}: {existing} is not a directory")
    if not os.access(existing if existing != path else path.parent, os.W_OK):
        raise UsageError(f"--json {path}: cannot be written (permission denied)")


def write_document(path: Path, doc) -> None:
    """Write ``doc`` atomically to ``path``; a path that cannot be written is the command's one line."""
    try:
        write_json(path, doc)
    except OSError as e:
        raise UsageError(f"--json {path}: cannot be written ({e.strerror or e})") from None


if __name__ == "__main__":
    sys.exit(main())
