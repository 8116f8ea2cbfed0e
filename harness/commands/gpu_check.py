"""``harness gpu-check``: the emotion suite, ``bench`` with a sweep and the CUDA unit tests, one summary.

Meant for a machine with one GPU, within 8 minutes: each step runs as its own process under a time cap
(SIGTERM when it is reached, so that the suite still writes what it measured; SIGKILL 20 s later), and
``<out>/gpu-check.json`` and ``<out>/gpu-check.md`` give every step's status (``passed``, ``failed``,
``timeout``, ``none-selected``), duration and key figures.

The model comes from a checkpoint folder whose weights are stored in fp16, half the bytes to carry to
the GPU machine; the harness loads it as fp32. ``--model-dir DIR`` names a folder holding such a copy as
``DIR/<checkpoint id>/``; without it the copy is written into ``<out>/models`` first.
``--write-fp16-copy DIR`` writes ``DIR/<checkpoint id>/`` and stops (then carry DIR to the GPU machine).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import HarnessError

DEFAULT_CHECKPOINT = "sentence-transformers/all-MiniLM-L6-v2"
REPO = Path(__file__).resolve().parents[2]
GRACE_S = 20  # after SIGTERM, before SIGKILL
NO_TESTS_COLLECTED = 5  # pytest's exit code


class GpuCheckError(HarnessError, ValueError):
    """The check cannot start as asked; the message says why."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="harness gpu-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="where logs and the summary go")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N; cpu tries the check without a GPU")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="checkpoint id the suite names")
    parser.add_argument("--model-dir", type=Path, default=None, help="holds the fp16 copy as <dir>/<id>/")
    parser.add_argument(
        "--write-fp16-copy", type=Path, default=None, metavar="DIR", help="write DIR/<id>/ and stop"
    )
    parser.add_argument("--data-dir", default=os.environ.get("HARNESS_DATA_DIR"), help="dataset mirrors")
    parser.add_argument("--dataset", default="emotion", help="the dataset bench times")
    parser.add_argument("--suite", type=Path, default=REPO / "suites" / "test_emotion.py", help="on --device")
    parser.add_argument(
        "--tests", type=Path, default=REPO / "tests", help="unit tests: those named or marked cuda/gpu run"
    )
    for step, cap in (("suite", 290), ("bench", 110), ("tests", 60)):
        parser.add_argument(f"--{step}-timeout", type=float, default=cap, metavar="S", help=f"{cap} s")
    parser.add_argument("--bench-limit", type=int, default=2000, help="texts bench times (validation)")
    parser.add_argument("--sweep", type=int, default=500, help="texts of bench's batch-size sweep")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: <out>/cache (a cold run)")
    return parser.parse_args(argv)


@dataclass
class Step:
    """One step: its command, time cap and what came of it."""

    name: str
    command: list[str]
    limit_s: float
    status: str = "not run"
    returncode: int | None = None
    seconds: float = 0.0
    log: str = ""
    figures: dict = field(default_factory=dict)


def run_step(step: Step, out: Path) -> Step:
    """Run ``step.command`` (output to ``<out>/<name>.log``), stopped at ``step.limit_s``."""
    log = out / f"{step.name}.log"
    step.log = log.name
    start = time.perf_counter()
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            step.command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            step.returncode = process.wait(timeout=step.limit_s)
        except subprocess.TimeoutExpired:
            _stop(process)
            step.returncode = process.returncode
            step.status = "timeout"
    step.seconds = round(time.perf_counter() - start, 1)
    if step.status != "timeout":
        step.status = {0: "passed", NO_TESTS_COLLECTED: "none-selected"}.get(step.returncode, "failed")
    return step


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the step's process group, SIGKILL when it has not ended ``GRACE_S`` later."""
    for sig, wait_s in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue


def junit_counts(path: Path) -> dict:
    """Test outcome counts of a pytest ``--junitxml`` file ({} when it was not written)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return {}
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors", "skipped")
    counts = {key: sum(int(suite.get(key, 0)) for suite in suites) for key in keys}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def suite_figures(report_dir: Path, junit: Path) -> dict:
    """Outcomes, each pair's accuracy and stored weights, texts/s per speed setting."""
    from ..results import SuiteDocument, read_json

    figures: dict = {"tests": junit_counts(junit)}
    documents = sorted(report_dir.glob("*.json"))
    if not documents:
        return figures
    try:
        document = read_json(documents[0], SuiteDocument)
    except HarnessError as e:
        return figures | {"results": str(e)}
    figures["pairs"] = {
        f"{pair.checkpoint.split('/')[-1]} {pair.approach.id}": {
            "status": pair.status,
            "accuracy": pair.metrics.accuracy if pair.metrics else None,
            "stored_dtype": pair.checkpoint_source.stored_dtype if pair.checkpoint_source else None,
        }
        for pair in document.pairs
    }
    figures["texts_per_s"] = {
        f"{r.checkpoint.split('/')[-1]} {r.task} {r.device} {r.dtype}": round(r.texts_per_s, 1)
        for r in document.performance
    }
    return figures


def bench_figures(path: Path) -> dict:
    """texts/s per method, the best of the sweep per device and dtype, and the GEMM peaks."""
    from ..results import BenchDocument, read_json

    if not path.is_file():
        return {}
    try:
        doc = read_json(path, BenchDocument)
    except HarnessError as e:
        return {"results": str(e)}
    best: dict[str, float] = {}
    for record in doc.sweep:
        key = f"{record.device} {record.dtype}"
        best[key] = max(best.get(key, 0.0), round(record.texts_per_s, 1))
    return {
        "n_texts": doc.n_texts,
        "texts_per_s": {name: round(m.texts_per_s, 1) for name, m in doc.methods.items()},
        "sweep_best_texts_per_s": best,
        "gemm_peak_gflops": {k: round(v) for k, v in doc.gemm_peak_gflops.items()},
    }


def fp16_model_dir(args) -> Path:
    """The folder holding ``<checkpoint id>/`` stored in fp16: ``--model-dir``, else a copy made now."""
    from ..engine.checkpoints import resolve_checkpoint
    from ..engine.fp16_copy import write_fp16_copy

    if args.model_dir is not None:
        return args.model_dir.resolve()
    model_dir = (args.out / "models").resolve()
    if not (model_dir / args.checkpoint / "config.json").is_file():
        source = resolve_checkpoint(args.checkpoint, os.environ.get("HARNESS_MODEL_DIR"))
        if source.source == "hub":
            raise GpuCheckError(f"checkpoint {args.checkpoint!r}: write its fp16 copy from a local directory")
        write_fp16_copy(source.location, model_dir / args.checkpoint)
    return model_dir


def plan(args, model_dir: Path) -> list[Step]:
    """The three steps, as commands of this Python."""
    out = args.out.resolve()
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    cache = str((args.cache_dir or out / "cache").resolve())
    return [
        Step(
            "suite",
            [*pytest, str(args.suite), "--benchmark", "--device", args.device, "--model-dir", str(model_dir),
             "--report-dir", str(out / "reports"), "--cache-dir", cache, "--junitxml", str(out / "suite.xml"),
             "-k", args.checkpoint.split("/")[-1], *data],
            args.suite_timeout,
        ),
        Step(
            "bench",
            [sys.executable, "-m", "harness.commands.bench", "--checkpoint", args.checkpoint, "--model-dir",
             str(model_dir), "--device", args.device, "--limit", str(args.bench_limit), "--sweep",
             str(args.sweep), "--dataset", args.dataset, "--json", str(out / "bench.json"), *data],
            args.bench_timeout,
        ),
        Step(
            "cuda-tests",
            [*pytest, str(args.tests), "-k", "cuda or gpu", "--junitxml", str(out / "cuda-tests.xml")],
            args.tests_timeout,
        ),
    ]


def machine(device: str) -> dict:
    import torch

    from ..engine.checkpoints import select_device

    chosen = select_device(device)
    gpu = torch.cuda.get_device_name(chosen) if chosen.type == "cuda" else None
    return {"device": str(chosen), "gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda}


def render(summary: dict) -> str:
    """The short Markdown summary."""
    ckpt, about = summary["checkpoint"], summary["machine"]
    lines = [
        f"# GPU check: {summary['verdict']}",
        "",
        f"{about['gpu'] or about['device']} · torch {about['torch']} · "
        f"{ckpt['id']} stored in {ckpt['stored_dtype']} ({ckpt['size_mb']} MB), loaded as fp32 · "
        f"{summary['seconds']:.0f} s in all",
        "",
        "| step | status | seconds (cap) | key figures |",
        "| --- | --- | --- | --- |",
    ]
    for step in summary["steps"]:
        figures = "; ".join(f"{k}: {_compact(v)}" for k, v in step["figures"].items() if v) or "-"
        lines.append(
            f"| {step['name']} | {step['status']} | {step['seconds']:.0f} ({step['limit_s']:.0f}) "
            f"| {figures} |"
        )
    return "\n".join(lines) + "\n"


def _compact(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_compact(v)}" for k, v in value.items())
    return str(value)


def check(args) -> dict:
    """Run the steps; the summary (also written as ``gpu-check.json`` and ``gpu-check.md``)."""
    from ..engine.checkpoints import resolve_checkpoint

    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    about = machine(args.device)
    model_dir = fp16_model_dir(args)
    checkpoint = resolve_checkpoint(args.checkpoint, model_dir)
    if checkpoint.source != "model-dir":
        raise GpuCheckError(
            f"checkpoint {args.checkpoint!r} is not in {model_dir}; expected {model_dir}/{args.checkpoint}/"
        )
    out = args.out.resolve()
    steps = [run_step(step, out) for step in plan(args, model_dir)]
    steps[0].figures = suite_figures(out / "reports", out / "suite.xml")
    steps[1].figures = bench_figures(out / "bench.json")
    steps[2].figures = {"tests": junit_counts(out / "cuda-tests.xml")}
    size = sum(p.stat().st_size for p in Path(checkpoint.location).rglob("*") if p.is_file())
    missed = [f"{s.name} {s.status}" for s in steps if s.status not in ("passed", "none-selected")]
    summary = {
        "verdict": "failed: " + ", ".join(missed) if missed else "passed",
        "machine": about,
        "checkpoint": {
            "id": args.checkpoint,
            "location": checkpoint.location,
            "stored_dtype": checkpoint.stored_dtype(),
            "loaded_as": "fp32",
            "size_mb": round(size / 1e6, 1),
        },
        "steps": [asdict(step) for step in steps],
        "seconds": round(time.perf_counter() - start, 1),
    }
    (out / "gpu-check.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "gpu-check.md").write_text(render(summary), encoding="utf-8")
    return summary


def main(argv=None) -> int:
    """0 when every step passed (or selected no test), 1 when one did not, 2 for bad usage or input."""
    args = parse_args(argv)
    try:
        if args.write_fp16_copy is not None:
            from ..engine.checkpoints import resolve_checkpoint
            from ..engine.fp16_copy import write_fp16_copy

            source = resolve_checkpoint(args.checkpoint, os.environ.get("HARNESS_MODEL_DIR"))
            size = write_fp16_copy(source.location, args.write_fp16_copy / args.checkpoint)
            print(f"wrote {args.write_fp16_copy / args.checkpoint} (fp16-stored, {size / 1e6:.1f} MB)")
            return 0
        summary = check(args)
    except HarnessError as e:
        print(f"harness gpu-check: {e}", file=sys.stderr)
        return 2
    print((args.out / "gpu-check.md").read_text(encoding="utf-8"), end="")
    return 0 if summary["verdict"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
