"""The hub path for real: a local hub on 127.0.0.1 serves a checkpoint and ``dair-ai/emotion``.

The harness runs in a subprocess (tests/hub_scenario.py) with ``HF_ENDPOINT`` pointing at the local hub
(tests/hub_server.py) and an empty ``HF_HOME``: resolve → load → evaluate → harness cache, online (while
the hub publishes a new revision of the checkpoint); again, on the new revision; and offline from the hub
cache with the hub gone. Each run is a process of its own, as a user's runs are.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LABELS, _build_tokenizer, _tiny_config, make_examples
from .hub_server import LocalHub, directory_files

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = Path(__file__).with_name("hub_scenario.py")
MODEL_ID = "distilbert-base-uncased"  # the suite's id; the local hub serves a tiny random BERT under it
DATASET = "dair-ai/emotion"
# dair-ai/emotion's layout: Parquet files per split and a README whose YAML declares the label names.
EMOTION_README = """---
dataset_info:
  config_name: split
  features:
  - name: text
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
{names}
configs:
- config_name: split
  data_files:
  - split: train
    path: split/train-*
  - split: validation
    path: split/validation-*
  default: true
---
# emotion (generated for tests)
"""


def _tiny_bert_files(directory: Path, seed: int) -> dict[str, bytes]:
    import torch
    from transformers import BertModel

    directory.mkdir()
    tokenizer = _build_tokenizer(directory)
    torch.manual_seed(seed)
    BertModel(_tiny_config(tokenizer)).save_pretrained(directory)
    return directory_files(directory)


def _emotion_files() -> dict[str, bytes]:
    import pandas as pd

    files = {}
    for split, n, seed in (("train", 120, 0), ("validation", 60, 1)):
        examples = make_examples(n, seed)
        texts, names = zip(*examples, strict=True)
        frame = pd.DataFrame({"text": texts, "label": [LABELS.index(name) for name in names]})
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        files[f"split/{split}-00000-of-00001.parquet"] = buffer.getvalue()
    names = "\n".join(f"          '{i}': {name}" for i, name in enumerate(LABELS))
    files["README.md"] = EMOTION_README.format(names=names).encode()
    return files


def _run_scenario(hf_home: Path, cache_dirs: list[Path], endpoint: str | None) -> dict:
    """Run tests/hub_scenario.py: online against ``endpoint``, or offline (``HF_HUB_OFFLINE=1``) when None."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}  # conftest sets the offline flags
    env |= {"HF_HOME": str(hf_home), "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(ROOT)}
    env |= {"HF_ENDPOINT": endpoint} if endpoint else {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(SCENARIO), MODEL_ID, *map(str, cache_dirs)],
        cwd=hf_home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _by_pair(run: dict, field: str) -> dict:
    return {name: pair[field] for name, pair in run["pairs"].items()}


@pytest.fixture(scope="module")
def revisions(tmp_path_factory):
    """The files of two checkpoint revisions: the same tokenizer, different random weights."""
    root = tmp_path_factory.mktemp("hub-checkpoints")
    return _tiny_bert_files(root / "first", seed=0), _tiny_bert_files(root / "second", seed=1)


def test_hub_online_then_a_new_revision_then_offline(tmp_path, revisions):
    hf_home, cache = tmp_path / "hf-home", tmp_path / "harness-cache"
    hub = LocalHub()
    first_sha = hub.publish("models", MODEL_ID, revisions[0])
    data_sha = hub.publish("datasets", DATASET, _emotion_files())
    # the hub publishes a revision with other weights while the first run downloads the first one's weights
    first_weights = f"GET /{MODEL_ID}/resolve/{first_sha}/model.safetensors"
    hub.publish_on(first_weights, "models", MODEL_ID, revisions[1])
    with hub:
        # 1. online: resolved from the hub, loaded and evaluated at the commit it resolved to, all along
        online = _run_scenario(hf_home, [cache], hub.url)
        second_sha = hub.repos["models", MODEL_ID][-1].sha
        assert second_sha != first_sha and not any(second_sha in request for request in hub.requests)
        assert online["source"] == "hub" and online["fingerprint"] == f"hub:{first_sha}"
        assert online["labels"] == LABELS and online["rows"] == {"train": 120, "validation": 60}
        assert first_weights in hub.requests
        assert (
            f"GET /datasets/{DATASET}/resolve/{data_sha}/split/train-00000-of-00001.parquet" in hub.requests
        )
        (run,) = online["runs"]
        assert run["hits"] == 0 and run["stores"] == 3  # train and eval features, predictions
        assert not run["pairs"]["features-logreg-mean"]["cached"]
        for pair in run["pairs"].values():
            assert set(pair["metrics"]) >= {"accuracy", "f1_weighted", "f1_macro"}
            assert len(pair["proba"]) == 60

        # 2. the next run resolves the new revision: a new fingerprint, so nothing in the harness cache
        # answers (none of it was computed with these weights)
        updated = _run_scenario(hf_home, [cache], hub.url)
        assert updated["fingerprint"] == f"hub:{second_sha}"
        assert f"GET /{MODEL_ID}/resolve/{second_sha}/model.safetensors" in hub.requests
        (run,) = updated["runs"]
        assert run["hits"] == 0 and run["stores"] == 3
        features = run["pairs"]["features-logreg-mean"]
        assert features["proba"] != online["runs"][0]["pairs"]["features-logreg-mean"]["proba"]
    served = len(hub.requests)

    # 3. offline, the hub gone: the hub cache resolves the newest revision; the harness cache answers,
    # and an empty harness cache recomputes the same results from the hub cache's files
    offline = _run_scenario(hf_home, [cache, tmp_path / "empty-cache"], endpoint=None)
    assert len(hub.requests) == served
    assert offline["source"] == "hub" and offline["fingerprint"] == updated["fingerprint"]
    warm, cold = offline["runs"]
    assert warm["stores"] == 0 and warm["pairs"]["features-logreg-mean"]["cached"]
    assert cold["hits"] == 0 and not cold["pairs"]["features-logreg-mean"]["cached"]
    for run in (warm, cold):
        for field in ("proba", "metrics"):
            assert _by_pair(run, field) == _by_pair(updated["runs"][0], field)
