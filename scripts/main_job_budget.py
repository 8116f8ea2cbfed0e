#!/usr/bin/env python3
"""Benchmark the main job against its time budget: a cold run (an empty cache), then a warm one.

    python3 scripts/main_job_budget.py [--out DIR] [--cold-minutes 15] [--warm-seconds 60]
                                       [--peak-fraction 0.5] [-- pytest arguments]

Each run is ``./run main`` with its own report folder under ``--out`` (default ``budget/``) and a cache
folder of its own (``<out>/cache``), all emptied first, so neither the machine's cache nor an earlier
run's results are read. It prints the
wall time of each run, the fine-tunes' share of the GEMM peak (``training_throughput``), the phases that
cost most cold and warm (``phases`` of the results files), and whether each target was met; it writes
the same as ``<out>/budget.json``. Exit status: 0 when every target is met, 1 when one is not, 2 when a
run failed. Run it on a quiet machine: on 2 cores a busy neighbour doubles every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = 8  # phases listed per run


def run_main(reports: Path, cache: Path, extra: list[str]) -> tuple[float, int]:
    """Wall seconds and exit status of ``./run main`` writing to ``reports`` with ``cache``."""
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    status = subprocess.call([str(ROOT / "run"), "main", f"--report-dir={reports}", *extra], cwd=ROOT, env=env)
    return time.perf_counter() - started, status


def documents(reports: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(reports.glob("*.json"))]


def phases(docs: list[dict]) -> list[tuple[float, str]]:
    """(seconds, "suite · phase [detail]") summed over the run, most expensive first."""
    cost: dict[str, float] = defaultdict(float)
    for doc in docs:
        for item in doc.get("phases") or []:
            who = " · ".join(str(part) for part in (doc["suite"], item.get("checkpoint"), item.get("approach")) if part)
            cost[f"{who} · {item['phase']}"] += item["seconds"]
    return sorted(((seconds, name) for name, seconds in cost.items()), reverse=True)


def training(docs: list[dict]) -> list[dict]:
    """Every fine-tune's training-throughput record, with its pair."""
    found = []
    for doc in docs:
        for pair in doc.get("pairs") or []:
            record = pair.get("training_throughput")
            if record:
                found.append({"suite": doc["suite"], "checkpoint": pair["checkpoint"],
                              "approach": pair["approach"]["id"], **record})
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "budget")
    parser.add_argument("--cold-minutes", type=float, default=15.0)
    parser.add_argument("--warm-seconds", type=float, default=60.0)
    parser.add_argument("--peak-fraction", type=float, default=0.5)
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to ./run main")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    cache = out / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    results: dict = {"runs": {}, "targets": {}}
    for name in ("cold", "warm"):
        shutil.rmtree(out / name, ignore_errors=True)  # no results file of an earlier run is read
        seconds, status = run_main(out / name, cache, args.pytest_args)
        docs = documents(out / name)
        results["runs"][name] = {
            "seconds": seconds,
            "exit_status": status,
            "verdicts": {doc["suite"]: doc["verdict"]["status"] for doc in docs},
            "phases": [{"seconds": s, "phase": p} for s, p in phases(docs)],
            "training": training(docs),
        }
        print(f"\n== {name}: {seconds:.0f} s, exit status {status}", file=sys.stderr)
        for s, p in phases(docs)[:TOP]:
            print(f"   {s:7.1f} s  {p}", file=sys.stderr)
        if status != 0:
            break
    cold, warm = results["runs"].get("cold"), results["runs"].get("warm")
    targets = results["targets"]
    if cold:
        targets["cold"] = {"seconds": cold["seconds"], "limit": 60 * args.cold_minutes,
                           "met": cold["exit_status"] == 0 and cold["seconds"] <= 60 * args.cold_minutes}
        fractions = [t["peak_fraction"] for t in cold["training"] if t.get("peak_fraction") is not None]
        lowest = min(fractions) if fractions else None  # no fine-tune measured: the target is not met
        targets["fine-tune peak fraction"] = {"value": lowest, "limit": args.peak_fraction,
                                              "met": lowest is not None and lowest >= args.peak_fraction}
    if warm:
        targets["warm"] = {"seconds": warm["seconds"], "limit": args.warm_seconds,
                           "met": warm["exit_status"] == 0 and warm["seconds"] <= args.warm_seconds}
    out.mkdir(parents=True, exist_ok=True)
    (out / "budget.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n== targets", file=sys.stderr)
    for name, target in targets.items():
        value = target.get("seconds", target.get("value"))
        shown = "none measured" if value is None else f"{value:.3g}"
        print(f"   {name}: {shown} (limit {target['limit']:.3g}) {'met' if target['met'] else 'NOT met'}",
              file=sys.stderr)
    for t in (cold or {}).get("training", []):
        print(f"   fine-tune {t['checkpoint']} · {t['approach']}: {t['gflops']:.0f} GFLOP/s, "
              f"{t['peak_fraction']:.1%} of {t['gemm_peak_gflops']:.0f} ({t['dtype']}), train {t['train_s']:.0f} s",
              file=sys.stderr)
    if any(run["exit_status"] != 0 for run in results["runs"].values()):
        return 2
    return 0 if all(target["met"] for target in targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
