"""``harness predict TARGET [TEXT ...]``: classify texts with a fitted pair; label and every probability.

``TARGET`` is a directory ``harness export`` wrote (or any ``transformers`` classifier directory), or
a suite file with ``--checkpoint`` and ``--approach``: that pair is fitted through the cache, as the
suite fits it. Texts come from the arguments, else one per line from stdin.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import HarnessError
from ..engine.exported import load_exported
from . import one_error_path
from .pair_options import add_pair_options, open_pair


class PredictError(HarnessError, ValueError):
    """Bad usage of ``harness predict``."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="harness predict",
        description="Classify texts with a fitted pair: a directory written by `harness export`, or a "
        "suite file's pair (--checkpoint, --approach) fitted through the cache. Prints each text's "
        "label and every label's probability.",
    )
    parser.add_argument("target", type=Path, help="an exported directory, or a suite file")
    parser.add_argument(
        "texts", nargs="*", metavar="TEXT", help="texts to classify (default: one per line of stdin)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    add_pair_options(parser)
    return parser.parse_intermixed_args(argv)  # texts may follow the options


def read_texts(args, stdin) -> list[str]:
    """The texts to classify: the arguments, else stdin's lines; a blank one is an error."""
    from ..engine.data import check_text

    if args.texts:
        texts, where = list(args.texts), [f"text argument {i}" for i in range(1, len(args.texts) + 1)]
    else:
        if stdin.isatty():
            raise PredictError("no texts: give them as arguments, or one per line on stdin")
        texts = [line.removesuffix("\n").removesuffix("\r") for line in stdin]
        where = [f"stdin line {i}" for i in range(1, len(texts) + 1)]
        if not texts:
            raise PredictError("stdin holds no texts; expected one text per line")
    for text, loc in zip(texts, where, strict=True):
        check_text(text, loc)
    return texts


def classify(args, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Labels, and one row of probabilities per text."""
    from ..engine.runtime import Runtime

    if not args.target.exists():
        raise PredictError(
            f"{args.target}: no such file or directory; expected an exported directory or a suite file"
        )
    if args.target.is_dir():
        named = [option for option in ("checkpoint", "approach") if getattr(args, option) is not None]
        if named:
            raise PredictError(
                f"{args.target} is an exported directory; --{named[0]} names a pair of a suite file"
            )
        exported = load_exported(args.target)
        try:
            runtime = Runtime(device=args.device, dtype=args.dtype)
            runtime.torch_device()
        except ValueError as e:
            raise PredictError(str(e)) from None
        return exported.labels, exported.predict_proba(texts, runtime)
    return open_pair(args, args.target).predict_proba(texts)


def render(texts: list[str], labels: list[str], proba: np.ndarray) -> str:
    """Per text: the text (quoted), its label, then every label's probability, most probable first."""
    width = max(map(len, labels))
    blocks = []
    for text, row in zip(texts, proba, strict=True):
        order = np.argsort(-row, kind="stable")
        lines = [f"{json.dumps(text, ensure_ascii=False)} → {labels[order[0]]}"]
        lines += [f"  {labels[i]:<{width}}  {row[i]:.4f}" for i in order]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def as_json(texts: list[str], labels: list[str], proba: np.ndarray) -> str:
    return json.dumps(
        [
            {
                "text": text,
                "label": labels[int(row.argmax())],
                "probabilities": {label: float(p) for label, p in zip(labels, row, strict=True)},
            }
            for text, row in zip(texts, proba, strict=True)
        ],
        indent=1,
        ensure_ascii=False,
    )


@one_error_path("predict")
def main(argv=None, stdin=None) -> int:
    """0 when every text was classified, 2 for bad usage or input."""
    args = parse_args(argv)
    texts = read_texts(args, stdin if stdin is not None else sys.stdin)
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the results, not the Trainer's log
        labels, proba = classify(args, texts)
    print(as_json(texts, labels, proba) if args.json else render(texts, labels, proba))
    return 0
