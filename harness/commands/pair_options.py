"""The options that name one pair of a suite file, shared by ``harness export`` and ``harness predict``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_pair_options(parser: argparse.ArgumentParser) -> None:
    pair = parser.add_argument_group("the pair (a suite file's declarations)")
    pair.add_argument("--checkpoint", help="one of the suite's CHECKPOINTS (default: the only one)")
    pair.add_argument(
        "--approach",
        help="an approach id of the suite's APPROACHES (e.g. features-logreg-mean), or a name only one of "
        "them has (default: the only one)",
    )
    pair.add_argument(
        "--data-dir",
        default=os.environ.get("HARNESS_DATA_DIR") or None,
        help="local dataset mirrors (default: $HARNESS_DATA_DIR)",
    )
    pair.add_argument(
        "--model-dir",
        default=os.environ.get("HARNESS_MODEL_DIR") or None,
        help="local checkpoints (default: $HARNESS_MODEL_DIR)",
    )
    pair.add_argument(
        "--cache-dir",
        default=None,
        help="the harness cache (default: $HARNESS_CACHE_DIR, else ~/.cache/harness)",
    )
    pair.add_argument("--train-split", default=None, help="default: train")
    pair.add_argument("--eval-split", default=None, help="default: validation")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    parser.add_argument(
        "--dtype",
        default="fp32",
        choices=("fp32", "bf16", "fp16"),
        help="compute dtype (the suite's approach may override it, as in a pytest run)",
    )


def open_pair(args, suite: Path):
    """The :class:`~harness.engine.run.Pair` of the suite file ``suite`` that the options name, run by a
    :class:`~harness.engine.run.SuiteRun` as a pytest run would run it."""
    from ..engine.run import Settings, SuiteRun
    from ..engine.suite import load_suite

    settings = Settings(
        device=args.device,
        dtype=args.dtype,
        data_dir=args.data_dir,
        model_dir=args.model_dir,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
    )
    pair = (args.checkpoint, args.approach, args.train_split, args.eval_split)
    return SuiteRun(settings).pair(load_suite(suite), *pair)
