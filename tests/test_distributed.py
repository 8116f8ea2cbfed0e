"""One fine-tune run by two processes (``torchrun --nproc_per_node 2``, gloo on CPU), through the harness.

tests/distributed_finetune.py runs the same :func:`harness.engine.evaluation.evaluate` on every rank, with the
harness cache; every rank must end with the same model and predictions, and a warm run must answer
from the cache on every rank (a rank that trained alone would wait for the other forever).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).with_name("distributed_finetune.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _torchrun(checkpoint, data, cache, out: Path) -> list[dict]:
    """Run the script with two processes; what each rank wrote, by rank."""
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(SCRIPT)]
    done = subprocess.run(
        [*command, str(checkpoint), str(data), str(out), str(cache)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def _cross_entropy(result: dict) -> float:
    """The mean negative log-probability of the true labels."""
    pairs = zip(result["proba"], result["y_true"], strict=True)
    return -sum(math.log(proba[label]) for proba, label in pairs) / len(result["y_true"])


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed next to this Python")
def test_two_processes_fine_tune_one_model_and_share_the_cache(tmp_path, tiny_checkpoint, dataset_dir):
    cache = tmp_path / "cache"
    cold = _torchrun(tiny_checkpoint, dataset_dir, cache, tmp_path / "cold")
    first, second = cold
    assert first["world_size"] == 2 and not first["cached"]
    # rank 0 wrote the fine-tuned model and the predictions; rank 1 computed them alongside, wrote nothing
    assert [(rank["cache"]["hits"], rank["cache"]["stores"]) for rank in cold] == [(0, 2), (0, 0)]
    assert {"accuracy", "f1_weighted", "f1_macro"} <= set(first["metrics"])
    assert all(0 <= first["metrics"][m] <= 1 for m in ("accuracy", "f1_weighted", "f1_macro"))
    assert len(first["proba"]) == len(first["y_true"]) == 60
    assert first["metrics"]["accuracy"] > 0.5  # chance is 1/6: the two processes trained one model
    # every rank keeps the same (best) epoch and predicts the same
    assert second["proba"] == first["proba"] and second["metrics"] == first["metrics"]
    # the history describes the kept model: its epoch's eval loss is the predictions' cross-entropy
    evals = [entry for entry in first["history"] if "eval_accuracy" in entry]
    best = max(evals, key=lambda entry: entry["eval_accuracy"])
    assert best["epoch"] < evals[-1]["epoch"]  # the kept epoch is not the last one
    assert best["eval_accuracy"] == first["metrics"]["accuracy"]
    assert best["eval_loss"] == pytest.approx(_cross_entropy(first), rel=1e-3)

    warm = _torchrun(tiny_checkpoint, dataset_dir, cache, tmp_path / "warm")
    assert all(rank["cached"] for rank in warm)  # no rank trained: a rank training alone would hang
    assert [(rank["cache"]["hits"], rank["cache"]["stores"]) for rank in warm] == [(1, 0), (1, 0)]
    assert [rank["proba"] for rank in warm] == [first["proba"]] * 2


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(checkpoint, data, caches: list[Path], out: Path) -> list[dict]:
    """Run the script as two nodes of one process each (``--nnodes 2 --nproc_per_node 1``), both on
    this machine: rendezvous on 127.0.0.1, gloo; node i uses ``caches[i]``. What each rank wrote."""
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    rendezvous = ["--nnodes", "2", "--nproc_per_node", "1", "--master_addr", "127.0.0.1",
                  "--master_port", str(_free_port())]
    nodes = [
        subprocess.Popen(
            [str(TORCHRUN), *rendezvous, "--node_rank", str(node), str(SCRIPT), str(checkpoint), str(data),
             str(out), str(caches[node])],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for node in (0, 1)
    ]
    try:
        errors = [node.communicate(timeout=300)[1] for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(e[-2000:] for e in errors)
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed next to this Python")
def test_two_nodes_fine_tune_one_model_each_with_its_own_cache(tmp_path, tiny_checkpoint, dataset_dir):
    caches = [tmp_path / "cache-node0", tmp_path / "cache-node1"]  # two machines: no shared disk
    cold = _two_nodes(tiny_checkpoint, dataset_dir, caches, tmp_path / "cold")
    first, second = cold
    assert first["world_size"] == second["world_size"] == 2 and not first["cached"]
    assert second["proba"] == first["proba"] and second["metrics"] == first["metrics"]
    assert first["metrics"]["accuracy"] > 0.5  # one model trained by both nodes
    # each node's first process keeps what it computed in its own cache
    assert [(rank["cache"]["hits"], rank["cache"]["stores"]) for rank in cold] == [(0, 2), (0, 2)]

    warm = _two_nodes(tiny_checkpoint, dataset_dir, caches, tmp_path / "warm")
    assert all(rank["cached"] for rank in warm)  # both read their cache: neither trains (nor hangs) alone
    assert [(rank["cache"]["hits"], rank["cache"]["stores"]) for rank in warm] == [(1, 0), (1, 0)]
    assert [rank["proba"] for rank in warm] == [first["proba"]] * 2
