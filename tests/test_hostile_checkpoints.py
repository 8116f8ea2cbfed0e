"""Hostile and broken checkpoints and cache directories: each is one line, or a documented behaviour.

Checkpoints: explicit local paths and ids that stay inside the model dir; weights that would be
randomly initialised; unreadable weights and tokenizers; a device that does not exist. Cache: an
edited manifest; builds abandoned by killed runs; a read-only cache (a read-only bind mount, as root
ignores permission bits; chmod for other users); a full disk (a small tmpfs; skipped where mounting
is not permitted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification

import harness
from harness.engine.approaches.pretrained import Pretrained
from harness.engine.cache import Cache, CacheWarning
from harness.engine.checkpoints import (
    CheckpointError,
    CheckpointUnavailable,
    MissingLocalCheckpoint,
    DeviceUnavailable,
    resolve_checkpoint,
    select_device,
)
from harness.errors import HarnessError
from harness.engine.timing.timer import load_model

from .conftest import LABELS


def one_line(error_type, call, *args, **kwargs) -> str:
    """The error's message: one line, a HarnessError, raised without a chained traceback."""
    with pytest.raises(error_type) as error:
        call(*args, **kwargs)
    assert isinstance(error.value, HarnessError)
    chained = error.value.__cause__ or (None if error.value.__suppress_context__ else error.value.__context__)
    assert chained is None
    message = str(error.value)
    assert "\n" not in message
    return message


def _copy(checkpoint, directory: Path) -> Path:
    shutil.copytree(checkpoint, directory)
    return directory


def _edit_weights(directory: Path, edit) -> Path:
    weights = directory / "model.safetensors"
    state = load_file(weights)
    save_file(edit(state), weights, metadata={"format": "pt"})
    return directory


def _without(*parts):
    return lambda state: {k: v for k, v in state.items() if not any(part in k for part in parts)}


# --- resolution -----------------------------------------------------------------------------------


def test_an_id_is_never_shadowed_by_a_folder_in_the_working_directory(
    tiny_checkpoint, tiny_classifier_checkpoint, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _copy(tiny_checkpoint, tmp_path / "org" / "tiny")  # ./org/tiny, where the suite happens to run
    models = tmp_path / "models"
    _copy(tiny_classifier_checkpoint, models / "org" / "tiny")

    found = resolve_checkpoint("org/tiny", model_dir=models)
    assert (found.source, found.location) == ("model-dir", str((models / "org" / "tiny").resolve()))
    message = one_line(CheckpointUnavailable, resolve_checkpoint, "org/tiny")
    assert message.startswith("checkpoint 'org/tiny' cannot be resolved (no HARNESS_MODEL_DIR; ")
    assert message.endswith("(a local directory: ./org/tiny)")

    explicit = resolve_checkpoint("./org/tiny", model_dir=models)  # a local folder is named as a path
    assert (explicit.source, explicit.location) == ("local", str((tmp_path / "org" / "tiny").resolve()))
    monkeypatch.chdir(models)
    assert resolve_checkpoint("../org/tiny").location == explicit.location  # recorded absolute


def test_an_id_cannot_leave_the_model_dir(tiny_checkpoint, tmp_path):
    models = tmp_path / "models"
    _copy(tiny_checkpoint, tmp_path / "outside" / "x")
    _copy(tiny_checkpoint, models / "org" / "real")
    (models / "org" / "alias").symlink_to(models / "org" / "real")  # a link inside: fine
    (models / "org" / "escape").symlink_to(tmp_path / "outside" / "x")

    assert resolve_checkpoint("org/alias", model_dir=models).location == str((models / "org" / "real"))
    assert one_line(CheckpointError, resolve_checkpoint, "org/../../outside/x", model_dir=models) == (
        "checkpoint 'org/../../outside/x': '..' in a checkpoint id; expected an id such as org/name, "
        "or an explicit path (./dir, ../dir, /abs/dir)"
    )
    assert one_line(CheckpointError, resolve_checkpoint, "org/escape", model_dir=models) == (
        f"checkpoint 'org/escape': {models / 'org' / 'escape'} is a link to {tmp_path / 'outside' / 'x'}, "
        f"outside the model directory {models}; expected the checkpoint inside it"
    )


@pytest.mark.parametrize(
    "checkpoint_id, error, reason",
    [
        ("./missing", MissingLocalCheckpoint, "the directory {cwd}/missing does not exist"),
        ("../missing", MissingLocalCheckpoint, "the directory {parent}/missing does not exist"),
        ("/nonexistent/missing", MissingLocalCheckpoint, "the directory /nonexistent/missing does not exist"),
        ("./empty", MissingLocalCheckpoint, "the directory {cwd}/empty has no config.json"),
        ("org/too/deep", CheckpointUnavailable, "(no HARNESS_MODEL_DIR; no mirror package; hub: not a valid hub id)"),
    ],
)
def test_a_checkpoint_that_is_not_there_is_one_line(tmp_path, monkeypatch, checkpoint_id, error, reason):
    """A local path that is not a checkpoint is an error (a typo); only an id the hub cannot give is
    unavailable (a skip in a suite)."""
    work = tmp_path / "work"
    (work / "empty").mkdir(parents=True)
    monkeypatch.chdir(work)
    message = one_line(error, resolve_checkpoint, checkpoint_id)
    assert reason.format(cwd=work, parent=tmp_path) in message
    assert issubclass(error, CheckpointError) == checkpoint_id.startswith((".", "/"))


MISSING_LOCAL_SUITE = """
import pytest
from harness import approach_spec

DATASET = "tiny-emotion"
CHECKPOINTS = ["./no-such-model", "org/not-available-here"]
APPROACHES = [approach_spec("most-frequent")]
SPEED_SETTINGS = []
{allow}

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
"""


@pytest.mark.parametrize("allow", [False, True])
def test_a_missing_local_checkpoint_fails_the_suite_unless_allowed(pytester, dataset_dir, allow):
    pytester.makepyfile(test_typo=MISSING_LOCAL_SUITE.format(allow="ALLOW_MISSING_CHECKPOINTS = True" * allow))
    result = pytester.runpytest_subprocess(f"--data-dir={dataset_dir.parent}", "--report-dir=reports", "-rs")
    result.assert_outcomes(skipped=2 if allow else 1, errors=0 if allow else 1)
    assert result.ret == (0 if allow else 1)
    if not allow:  # the message once, no "During handling of the above exception" chain
        assert len([line for line in result.outlines if line.endswith("no-such-model does not exist; expected a "
                                                                      "checkpoint directory with config.json")]) == 1
        assert "During handling" not in result.stdout.str()
    text = (pytester.path / "reports" / "typo.md").read_text(encoding="utf-8")
    assert "(1 checkpoint not available here: skipped)" in text


# --- weights that would be randomly initialised ------------------------------------------------------

# (checkpoint, model class (None: AutoModel), new_head, num_labels) -> the refused first weight, or None
LOADS = [
    ("encoder", None, False, None, None),
    ("encoder", "classification", False, 6, "2 weights... 'classifier.bias' is missing"),
    ("encoder", "classification", True, 6, None),  # finetune: a new head
    ("classifier", None, False, None, None),  # features of a fine-tuned checkpoint: its head is unused
    ("classifier", "classification", False, 3, "'classifier.bias' has shape [6] in its files, [3] in"),
    ("classifier", "classification", True, 3, None),  # a new head of another size
    ("encoder without pooler", None, False, None, None),  # features never read the pooler
    ("encoder without pooler", "classification", True, 6, None),
    ("classifier without pooler", "classification", False, 6, "'bert.pooler.dense.bias' is missing"),
    ("classifier without head", "classification", False, 6, "2 weights... 'classifier.bias' is missing"),
    ("encoder without layer 1", None, False, None, "16 weights... 'encoder.layer.1.attention.output"),
    ("encoder without layer 1", "classification", True, 6, "16 weights... 'bert.encoder.layer.1.attention"),
    ("encoder with a narrow query", None, False, None, "'encoder.layer.0.attention.self.query.weight' has"),
    ("encoder with a narrow query", "classification", True, 6, "1 weight... 'bert.encoder.layer.0.attention"),
]


@pytest.fixture(scope="module")
def variants(tiny_checkpoint, tiny_classifier_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")

    def narrow_query(state):
        name = "encoder.layer.0.attention.self.query.weight"
        return {**state, name: state[name][:16]}

    return {
        "encoder": tiny_checkpoint,
        "classifier": tiny_classifier_checkpoint,
        "encoder without pooler": _edit_weights(_copy(tiny_checkpoint, root / "np"), _without("pooler")),
        "classifier without pooler": _edit_weights(
            _copy(tiny_classifier_checkpoint, root / "cnp"), _without("pooler")
        ),
        "classifier without head": _edit_weights(
            _copy(tiny_classifier_checkpoint, root / "cnh"), _without("classifier")
        ),
        "encoder without layer 1": _edit_weights(_copy(tiny_checkpoint, root / "nl"), _without("layer.1.")),
        "encoder with a narrow query": _edit_weights(_copy(tiny_checkpoint, root / "nq"), narrow_query),
    }


@pytest.mark.parametrize("name, model_class, new_head, num_labels, refused", LOADS)
def test_no_weight_is_silently_randomly_initialised(
    variants, name, model_class, new_head, num_labels, refused
):
    checkpoint = resolve_checkpoint(str(variants[name]))
    args = () if model_class is None else (AutoModelForSequenceClassification,)
    kwargs = {"new_head": new_head} | ({"num_labels": num_labels} if num_labels else {})
    if refused is None:
        checkpoint.load_model(*args, **kwargs)
        return
    message = one_line(CheckpointError, checkpoint.load_model, *args, **kwargs)
    count, first = refused.split("... ") if "... " in refused else (None, refused)
    assert message.startswith(f"checkpoint '{variants[name]}': ")
    assert first in message and message.endswith(f"expected every weight of the model in {variants[name]}")
    if count:
        assert f": {count} of " in message and "would be randomly initialised (first: " in message


def test_pretrained_approach_refuses_a_checkpoint_without_head_weights(variants):
    checkpoint = resolve_checkpoint(str(variants["classifier without head"]))
    assert one_line(CheckpointError, Pretrained(checkpoint).fit, labels=LABELS) == (
        f"checkpoint '{checkpoint.id}': 2 weights of BertForSequenceClassification would be randomly "
        f"initialised (first: 'classifier.bias' is missing from its files); expected every weight of the "
        f"model in {checkpoint.location}"
    )


def test_timing_loads_a_random_head_on_purpose(variants):
    model = load_model(resolve_checkpoint(str(variants["encoder"])), "inference", "cpu", num_labels=6)
    assert model.config.num_labels == 6
    with pytest.raises(CheckpointError, match="'bert.encoder.layer.1"):  # but not a random encoder
        load_model(resolve_checkpoint(str(variants["encoder without layer 1"])), "inference", "cpu", num_labels=6)


# --- unreadable files -------------------------------------------------------------------------------


def _truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _as_pickle(directory: Path) -> Path:
    torch.save(load_file(directory / "model.safetensors"), directory / "pytorch_model.bin")
    (directory / "model.safetensors").unlink()
    return directory / "pytorch_model.bin"


DAMAGE = {
    "truncated model.safetensors": lambda d: _truncate(d / "model.safetensors"),
    "garbage model.safetensors": lambda d: (d / "model.safetensors").write_bytes(b"\x00garbage" * 64),
    "no weights": lambda d: (d / "model.safetensors").unlink(),
    "truncated pytorch_model.bin": lambda d: _truncate(_as_pickle(d)),
    "garbage pytorch_model.bin": lambda d: _as_pickle(d).write_bytes(b"not a pickle" * 64),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_unreadable_weights_are_one_line(tiny_checkpoint, tmp_path, damage):
    directory = _copy(tiny_checkpoint, tmp_path / "broken")
    DAMAGE[damage](directory)
    message = one_line(CheckpointError, resolve_checkpoint(str(directory)).load_model)
    assert message.startswith(f"checkpoint '{directory}': its model cannot be loaded from {directory} (")
    assert message.endswith(
        "); expected complete weights (model.safetensors or pytorch_model.bin) for its config.json"
    )


@pytest.mark.parametrize("damage", ["tokenizer.json missing", "tokenizer.json not JSON"])
def test_a_tokenizer_that_cannot_be_built_is_one_line(tiny_checkpoint, tmp_path, damage):
    directory = _copy(tiny_checkpoint, tmp_path / "broken")
    if damage == "tokenizer.json missing":  # tokenizer_config.json alone cannot build it
        (directory / "tokenizer.json").unlink()
    else:
        (directory / "tokenizer.json").write_text('{"version": "1.0", "trunc')
    message = one_line(CheckpointError, resolve_checkpoint(str(directory)).load_tokenizer)
    assert message.startswith(f"checkpoint '{directory}': its tokenizer cannot be built from {directory} (")
    assert message.endswith("); expected tokenizer.json or the tokenizer's vocabulary files")


# --- device -----------------------------------------------------------------------------------------


def test_a_device_that_is_not_there_is_one_line(pytester):
    expected = "--device gpu: expected auto, cpu, cuda or cuda:N"
    assert one_line(DeviceUnavailable, select_device, "gpu") == expected
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the no-CUDA message cannot be shown")
    assert one_line(DeviceUnavailable, select_device, "cuda:1") == (
        "--device cuda:1: CUDA is not available on this machine"
    )
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest("--device=cuda", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: --device cuda: CUDA is not available on this machine" in result.errlines
    assert not any("Traceback" in line for line in result.outlines + result.errlines)


# --- cache ------------------------------------------------------------------------------------------

KEY, OTHER = "ab" * 32, "cd" * 32


def _compute(calls: list, size: int = 6):
    def compute():
        calls.append(1)
        return {"proba": np.arange(size, dtype=np.float32)}, {"timings": {"fit": 1.5}, "history": None}

    return compute


@pytest.mark.parametrize("edit", ["a meta key renamed", "another entry's manifest"])
def test_an_edited_manifest_is_recomputed_with_a_warning(tmp_path, edit):
    calls: list = []
    cache = Cache(tmp_path)
    cache.arrays("predictions", KEY, _compute(calls))
    entry = cache.entry_path("predictions", KEY)
    if edit == "a meta key renamed":  # still valid JSON, but not what was written
        manifest = entry / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"timings"', '"timingS"'))
        read = KEY
    else:  # an entry copied under another key
        shutil.copytree(entry, cache.entry_path("predictions", OTHER))
        read = OTHER
    with pytest.warns(CacheWarning, match="corrupt or incomplete; recomputing it"):
        arrays, meta = Cache(tmp_path).arrays("predictions", read, _compute(calls))
    assert len(calls) == 2 and meta["timings"] == {"fit": 1.5}
    np.testing.assert_array_equal(arrays["proba"], np.arange(6, dtype=np.float32))


BUILDER = """
import sys, time
from pathlib import Path
import numpy as np
import safetensors.numpy
from harness.engine.cache import Cache

def save_file(arrays, path):  # stops in the middle of writing the entry
    Path(path).with_name("part").write_bytes(b"x" * 1000)
    time.sleep(600)

safetensors.numpy.save_file = save_file
Cache(sys.argv[1]).arrays("features", sys.argv[2], lambda: ({"x": np.ones(3)}, {}))
"""


def _start_build(root: Path, key: str) -> tuple[subprocess.Popen, Path]:
    """A real process stopped while writing its entry (killed there, or still building); and its build dir."""
    env = {**os.environ, "PYTHONPATH": str(Path(harness.__file__).parents[1])}
    process = subprocess.Popen([sys.executable, "-c", BUILDER, str(root), key], env=env)
    shard = root / "features" / key[:2]
    for _ in range(1200):  # until it writes (or fails)
        builds = list(shard.glob(".*/part")) if shard.is_dir() else []
        if builds or process.poll() is not None:
            break
        time.sleep(0.1)
    assert builds, "the builder process did not start writing"
    return process, builds[0].parent


def test_builds_of_killed_runs_are_removed_and_builds_in_progress_kept(tmp_path):
    killed, abandoned = _start_build(tmp_path, KEY)
    killed.kill()
    killed.wait()
    running, in_progress = _start_build(tmp_path, OTHER)
    try:
        calls: list = []
        cache = Cache(tmp_path)
        cache.arrays("features", "ef" * 32, _compute(calls))
        assert cache.stores == [("features", "ef" * 32)]
        assert not abandoned.exists()
        assert (in_progress / "part").is_file()
    finally:
        running.kill()
        running.wait()


def _mount(*args) -> None:
    result = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot mount here: {result.stderr.strip() or result.returncode}")


@pytest.fixture
def read_only(tmp_path):
    """``view(directory)``: the directory, read-only for this process for real."""
    mounted: list[Path] = []
    locked: list[Path] = []

    def view(directory: Path) -> Path:
        if os.geteuid() != 0:  # permission bits bind other users
            locked.extend([directory, *directory.rglob("*")])
            for path in locked:
                path.chmod(path.stat().st_mode & ~0o222)
            return directory
        target = tmp_path / f"read-only-{len(mounted)}"
        target.mkdir()
        _mount("--bind", directory, target)
        mounted.append(target)
        _mount("-o", "remount,bind,ro", target)
        return target

    yield view
    for target in mounted:
        subprocess.run(["umount", str(target)], check=True)
    for path in locked:
        path.chmod(path.stat().st_mode | 0o200)


def test_a_read_only_cache_is_read_when_warm_and_computes_without_storing_when_cold(tmp_path, read_only):
    calls: list = []
    Cache(tmp_path / "cache").arrays("features", KEY, _compute(calls))
    view = read_only(tmp_path / "cache")

    warm = Cache(view)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warm read-only cache is simply read
        arrays, meta = warm.arrays("features", KEY, _compute(calls))
    assert len(calls) == 1 and warm.hits == [("features", KEY)]
    np.testing.assert_array_equal(arrays["proba"], np.arange(6, dtype=np.float32))

    cold = Cache(view)
    with pytest.warns(CacheWarning) as warned:
        first, _ = cold.arrays("features", OTHER, _compute(calls))
        cold.arrays("features", "ef" * 32, _compute(calls))
    assert [str(w.message) for w in warned] == [
        f"cache {view} cannot be written ({os.strerror(30 if os.geteuid() == 0 else 13)}); "
        "results are computed and not stored"
    ]
    assert len(calls) == 3 and cold.stores == [] and first["proba"].shape == (6,)


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KiB file system (tmpfs): writing more fails with ENOSPC."""
    target = tmp_path / "small"
    target.mkdir()
    _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", target)
    yield target
    subprocess.run(["umount", str(target)], check=True)


def test_a_full_disk_keeps_the_result_and_leaves_nothing_half_written(small_disk):
    calls: list = []
    cache = Cache(small_disk)
    unstored = r"cannot be written \(.*No space left on device.*\); results are computed and not stored"
    with pytest.warns(CacheWarning, match=unstored):
        arrays, _ = cache.arrays("features", KEY, _compute(calls, size=1 << 20))  # 4 MiB
    assert len(calls) == 1 and arrays["proba"].shape == (1 << 20,) and cache.stores == []
    assert [p for p in small_disk.rglob("*") if p.is_file() and p.suffix != ".lock"] == []
    assert cache.arrays("features", OTHER, _compute(calls)) and cache.stores == [("features", OTHER)]
