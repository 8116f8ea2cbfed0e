"""Result records: one JSON file per (suite, checkpoint, approach), schema in ``docs/results.md``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

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


def fingerprint(texts, labels) -> str:
    """sha256 of the evaluation examples, so two result files can be checked to be paired."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{text}\x00{int(label)}\n".encode())
    return digest.hexdigest()


CONTEXT_PARAMS = ("labels", "checkpoint", "extractors")  # recorded elsewhere in the record, or not data


def _json_params(params: dict) -> dict:
    """The approach's hyperparameters: every parameter but the run context."""
    return {k: v for k, v in params.items() if k not in CONTEXT_PARAMS}


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
                "params": _json_params(spec.params_for(self.checkpoint)),
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
        ev = self.evaluation
        if ev is not None:
            record["approach"]["params"] = _json_params(ev.estimator.get_params(deep=False))
            record.update(
                dataset=ev.dataset,
                checkpoint_source={"kind": ev.checkpoint.source, "location": ev.checkpoint.location},
                train_split=ev.train_split,
                split=ev.split,
                n_examples=len(ev.texts),
                n_truncated=ev.n_truncated,
                labels=ev.labels,
                eval_fingerprint=fingerprint(ev.texts, ev.y_true),
                metrics=ev.metrics,
                timings={k: round(v, 4) for k, v in ev.timings.items()},
                examples={"worst_loss": ev.scored["worst"], "best_loss": ev.scored["best"]},
                training_history=getattr(ev.estimator, "history_", None),
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


def write_record(report_dir: Path, record: dict) -> Path:
    """Write atomically (temporary file, then rename) and return the path."""
    path = record_path(report_dir, record["suite"], record["checkpoint"], record["approach"]["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
