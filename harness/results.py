"""Result records: one JSON file per (suite, checkpoint, approach), schema in ``docs/results.md``."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .approaches.base import CONTEXT_PARAMS
from .cache import examples_digest
from .compare import compare_records
from .timing import add_speedups

SCHEMA_VERSION = 1
PACKAGES = ("harness", "torch", "transformers", "datasets", "scikit-learn", "numpy", "accelerate")
STATUS_ORDER = {"skipped": 0, "passed": 1, "failed": 2}  # a pair takes its worst test outcome


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str, root: Path) -> dict:
    """Where and with what the results were produced."""
    import torch

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(root),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": {name: _version(name) for name in PACKAGES},
    }


@dataclass
class PairOutcome:
    """The status of one (suite, checkpoint, approach) across its tests, and its evaluation."""

    suite: str
    checkpoint: str
    approach: object  # ApproachSpec
    status: str = "skipped"
    reason: str | None = None
    evaluation: object | None = None  # Evaluation
    gates: list = field(default_factory=list)
    tested: bool = False
    baseline: dict | None = None  # the baseline check, baseline.PairCheck.to_dict(); None when not checked

    def update(self, status: str, reason: str | None) -> None:
        """Keep the worst outcome (failed > passed > skipped) and the reason that goes with it."""
        if not self.tested or STATUS_ORDER[status] > STATUS_ORDER[self.status]:
            self.status, self.reason = status, reason
        self.tested = True

    def record(self, env: dict) -> dict:
        spec = self.approach
        record = {
            "schema_version": SCHEMA_VERSION,
            "suite": self.suite,
            "checkpoint": self.checkpoint,
            "approach": {
                "name": spec.name,
                "variant": spec.variant,
                "id": spec.id,
                "params": {
                    k: v for k, v in spec.params_for(self.checkpoint).items() if k not in CONTEXT_PARAMS
                },
            },
            "status": self.status,
            "reason": self.reason,
            "gates": [g.to_dict() for g in self.gates],
            "split": None,
            "n_examples": None,
            "metrics": None,
            "timings": None,
            "environment": env,
        }
        if self.baseline is not None:
            record["baseline"] = self.baseline
        ev = self.evaluation
        if ev is not None:
            record["approach"]["params"] = ev.estimator.hyperparameters()
            record.update(
                dataset=ev.dataset,
                checkpoint_source={"kind": ev.checkpoint.source, "location": ev.checkpoint.location},
                train_split=ev.train_split,
                split=ev.split,
                n_examples=len(ev.texts),
                n_truncated=ev.n_truncated,
                labels=ev.labels,
                eval_fingerprint=examples_digest(ev.texts, ev.y_true),
                metrics=ev.metrics,
                calibration=ev.scored["calibration"],
                label_suspects=ev.scored["label_suspects"],
                timings={k: round(v, 4) for k, v in ev.timings.items()},
                examples={"worst_loss": ev.scored["worst"], "best_loss": ev.scored["best"]},
                training_history=ev.history,
                cached=ev.cached,
                predictions={
                    "gold": ev.y_true.tolist(),
                    "predicted": ev.scored["y_pred"].tolist(),
                    "loss": [round(float(x), 6) for x in ev.scored["loss"]],
                    "proba": [[round(float(p), 6) for p in row] for row in ev.proba],
                },
            )
        return record


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", text).strip("-")


def record_path(report_dir: Path, suite: str, checkpoint: str, approach_id: str) -> Path:
    return Path(report_dir) / suite / f"{slug(checkpoint)}__{slug(approach_id)}.json"


def write_json(path: Path, data: dict) -> Path:
    """Write atomically (temporary file, then rename) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def write_record(report_dir: Path, record: dict) -> Path:
    path = record_path(report_dir, record["suite"], record["checkpoint"], record["approach"]["id"])
    return write_json(path, record)


def merge_pair_records(a: dict, b: dict) -> dict:
    """One pair seen by two processes (xdist workers): the evaluated record, the worst status, all gates."""
    merged = dict(a if a.get("metrics") is not None or b.get("metrics") is None else b)
    worst = b if STATUS_ORDER[b["status"]] > STATUS_ORDER[a["status"]] else a
    merged.update(status=worst["status"], reason=worst["reason"], gates=a["gates"] + b["gates"])
    return merged


def suite_documents(fragments: list[dict], run_id: str) -> list[dict]:
    """Merge what each process produced into one results document per suite (format: docs/results.md)."""
    docs: dict[str, dict] = {}
    pairs: dict[str, dict[tuple[str, str], dict]] = {}
    for fragment in fragments:
        for suite, part in fragment["suites"].items():
            doc = docs.setdefault(
                suite,
                {
                    "schema_version": SCHEMA_VERSION,
                    "kind": "harness.suite",
                    "suite": suite,
                    "run_id": run_id,
                    "environment": fragment["environment"],
                    "cache": {**fragment["cache"], "hits": 0, "stores": 0},
                    "datasets": {},
                    "pairs": [],
                    "performance": [],
                    "comparisons": [],
                },
            )
            for name, overview in part["datasets"].items():
                if name in doc["datasets"]:
                    doc["datasets"][name]["token_lengths"].update(overview["token_lengths"])
                else:
                    doc["datasets"][name] = overview
            for record in part["pairs"]:
                key = (record["checkpoint"], record["approach"]["id"])
                seen = pairs.setdefault(suite, {})
                seen[key] = merge_pair_records(seen[key], record) if key in seen else record
            doc["performance"].extend(part["performance"])
            for count in ("hits", "stores"):
                doc["cache"][count] += fragment["cache"][count]
    for suite, doc in docs.items():
        doc["pairs"] = [pairs.get(suite, {})[key] for key in sorted(pairs.get(suite, {}))]
        doc["comparisons"] = compare_records(doc["pairs"])
        add_speedups(doc["performance"])
    return [docs[suite] for suite in sorted(docs)]


def write_suite(report_dir: Path, doc: dict) -> list[Path]:
    """The suite's results document and one record file per pair."""
    paths = [write_record(report_dir, record) for record in doc["pairs"]]
    return [write_json(Path(report_dir) / f"{doc['suite']}.json", doc), *paths]
