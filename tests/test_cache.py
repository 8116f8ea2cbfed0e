"""The on-disk cache: keys, checksummed atomic entries, modes, locking, and the approaches using it."""

from __future__ import annotations

import json
import multiprocessing
import time

import numpy as np
import pytest

from harness.engine.approaches import approach_spec
from harness.engine.cache import Cache, CacheWarning, cache_key
from harness.engine.checkpoints import resolve_checkpoint
from harness.engine.data import load_dataset
from harness.engine.evaluation import evaluate
from harness.engine.runtime import Runtime


@pytest.fixture
def tiny(dataset_dir, tiny_checkpoint):
    return load_dataset(str(dataset_dir)), resolve_checkpoint(str(tiny_checkpoint))


def _arrays(calls: list):
    def compute():
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}, {"note": "meta"}

    return compute


def test_key_is_canonical_and_sensitive_to_every_part():
    assert cache_key(a=1, b=[1, 2]) == cache_key(b=[1, 2], a=1)
    assert cache_key(a=1, b=[1, 2]) != cache_key(a=1, b=[2, 1])
    assert cache_key(a=1) != cache_key(a=1.5)


def test_second_read_loads_what_the_first_computed(tmp_path):
    calls: list = []
    first, meta = Cache(tmp_path).arrays("features", "ab" * 32, _arrays(calls))
    cache = Cache(tmp_path)
    second, meta2 = cache.arrays("features", "ab" * 32, _arrays(calls))
    assert len(calls) == 1 and cache.hits == [("features", "ab" * 32)] and cache.stores == []
    np.testing.assert_array_equal(first["x"], second["x"])
    assert meta == meta2 == {"note": "meta"}
    entry = cache.entry_path("features", "ab" * 32)
    leftovers = [p.name for p in entry.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the temporary build directory was renamed into place


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "drop the manifest", "extra file"])
def test_a_damaged_entry_is_recomputed_with_a_warning(tmp_path, damage):
    calls: list = []
    cache = Cache(tmp_path)
    cache.arrays("features", "cd" * 32, _arrays(calls))
    entry = cache.entry_path("features", "cd" * 32)
    data = entry / "arrays.safetensors"
    if damage == "flip a byte":
        raw = bytearray(data.read_bytes())
        raw[-1] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[:20])
    elif damage == "drop the manifest":
        (entry / "manifest.json").unlink()
    else:
        (entry / "stray.bin").write_bytes(b"x")

    if damage == "drop the manifest":  # an entry never completed: recomputed silently
        again, _ = Cache(tmp_path).arrays("features", "cd" * 32, _arrays(calls))
    else:
        with pytest.warns(CacheWarning, match="corrupt or incomplete; recomputing"):
            again, _ = Cache(tmp_path).arrays("features", "cd" * 32, _arrays(calls))
    assert len(calls) == 2
    np.testing.assert_array_equal(again["x"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert Cache(tmp_path).arrays("features", "cd" * 32, _arrays(calls)) and len(calls) == 2


def test_off_never_writes_and_refresh_recomputes_once(tmp_path):
    calls: list = []
    Cache(tmp_path / "off", mode="off").arrays("features", "ef" * 32, _arrays(calls))
    assert not (tmp_path / "off").exists()

    Cache(tmp_path).arrays("features", "ef" * 32, _arrays(calls))
    refresh = Cache(tmp_path, mode="refresh")
    refresh.arrays("features", "ef" * 32, _arrays(calls))
    refresh.arrays("features", "ef" * 32, _arrays(calls))
    assert len(calls) == 3  # off, first use, one refresh


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="cache mode 'sometimes': expected one of"):
        Cache(mode="sometimes")


def _slow_writer(root, log, start):
    while time.time() < start:  # both processes ask at the same moment
        time.sleep(0.001)

    def compute():
        with open(log, "a") as f:
            f.write("computed\n")
        time.sleep(0.5)
        return {"x": np.ones(4)}, {}

    arrays, _ = Cache(root).arrays("features", "12" * 32, compute)
    assert arrays["x"].sum() == 4


def test_concurrent_processes_compute_an_entry_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    start = time.time() + 2
    workers = [
        context.Process(target=_slow_writer, args=(tmp_path, tmp_path / "log", start)) for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)  # a spawned interpreter starts slowly on a busy machine
    assert [w.exitcode for w in workers] == [0, 0]
    assert (tmp_path / "log").read_text() == "computed\n"


def test_cached_evaluation_recomputes_nothing(tmp_path, tiny):
    dataset, tiny_checkpoint = tiny
    spec = approach_spec("features-logreg", pooling="mean")
    cold_cache, warm_cache = Cache(tmp_path), Cache(tmp_path)
    cold = evaluate("suite", "tiny", dataset, tiny_checkpoint, spec, Runtime(cache=cold_cache))
    warm = evaluate("suite", "tiny", dataset, tiny_checkpoint, spec, Runtime(cache=warm_cache))
    assert not cold.cached and warm.cached
    assert [kind for kind, _ in cold_cache.stores] == ["features", "features", "predictions"]  # train, eval
    assert warm_cache.stores == [] and [kind for kind, _ in warm_cache.hits] == ["predictions"]
    np.testing.assert_array_equal(cold.proba, warm.proba)
    assert json.dumps(cold.scored["metrics"]) == json.dumps(warm.scored["metrics"])
    assert warm.timings["fit"] == cold.timings["fit"]  # the measured time, not the cache read's


def test_a_manifest_edited_and_rehashed_without_fields_is_recomputed_once(tmp_path, tiny):
    """``meta: {}`` with its sha256 recomputed is valid JSON and hash, but not an entry the harness
    wrote: it is recomputed with one warning (it raised KeyError: 'timings' on every run before)."""
    import warnings

    from harness.engine.cache import _manifest_digest

    dataset, tiny_checkpoint = tiny
    spec = approach_spec("features-logreg", pooling="mean")
    cold_cache = Cache(tmp_path)
    cold = evaluate("suite", "tiny", dataset, tiny_checkpoint, spec, Runtime(cache=cold_cache))
    (kind, key), = [(k, v) for k, v in cold_cache.stores if k == "predictions"]
    path = cold_cache.entry_path(kind, key) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["meta"] = {}
    manifest["sha256"] = _manifest_digest(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    again = Cache(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        repaired = evaluate("suite", "tiny", dataset, tiny_checkpoint, spec, Runtime(cache=again))
    cache_warnings = [w for w in caught if issubclass(w.category, CacheWarning)]
    assert len(cache_warnings) == 1 and "corrupt or incomplete; recomputing it" in str(cache_warnings[0].message)
    assert not repaired.cached and [k for k, _ in again.stores] == ["predictions"]
    np.testing.assert_array_equal(repaired.proba, cold.proba)
    third = Cache(tmp_path)
    assert evaluate("suite", "tiny", dataset, tiny_checkpoint, spec, Runtime(cache=third)).cached  # repaired


def test_a_parameter_change_misses_and_features_are_reused(tmp_path, tiny):
    dataset, tiny_checkpoint = tiny
    cache = Cache(tmp_path)
    evaluate("s", "tiny", dataset, tiny_checkpoint, approach_spec("features-logreg"), Runtime(cache=cache))
    other = Cache(tmp_path)
    ev = evaluate("s", "tiny", dataset, tiny_checkpoint, approach_spec("features-logreg", C=0.5), Runtime(cache=other))
    assert not ev.cached
    assert [kind for kind, _ in other.hits] == ["features", "features"]  # train and eval texts
    assert [kind for kind, _ in other.stores] == ["predictions"]


def test_finetuned_model_is_cached_as_safetensors(tmp_path, tiny):
    dataset, tiny_checkpoint = tiny
    spec = approach_spec("finetune", num_train_epochs=1, batch_size=16)
    cache = Cache(tmp_path)
    first = evaluate("s", "tiny", dataset, tiny_checkpoint, spec, Runtime(cache=cache))
    (model_key,) = [key for kind, key in cache.stores if kind == "finetune"]
    entry = cache.entry_path("finetune", model_key)
    assert (entry / "model.safetensors").is_file() and not list(entry.glob("*.bin"))

    for pred in (tmp_path / "predictions").glob("*/*"):  # force a re-prediction from the cached model
        if pred.is_dir():
            (pred / "manifest.json").unlink()
    again = Cache(tmp_path)
    second = evaluate("s", "tiny", dataset, tiny_checkpoint, spec, Runtime(cache=again))
    assert ("finetune", model_key) in again.hits
    np.testing.assert_allclose(first.proba, second.proba, atol=1e-6)
    assert second.history == first.history


def test_cache_keys_cover_the_runtime_settings(tmp_path):
    """One place builds keys: every runtime setting that changes a result changes the key."""
    runtime = Runtime(device="cpu", cache=Cache(tmp_path))
    key = runtime.cache_key("features", texts="t")
    assert key == runtime.replace().cache_key("features", texts="t")
    for changed in (runtime.replace(dtype="bf16"), runtime.replace(batch_size=8)):
        assert changed.cache_key("features", texts="t") != key
    assert runtime.cache_key("predictions", texts="t") != key
    assert runtime.cache_key("features", texts="u") != key


def test_cache_keys_cover_the_machines_instructions(tmp_path, monkeypatch):
    """A cache shared by machines (a CI cache restored on another runner) answers each with its own
    results: an AVX2 CPU's features, fine-tunes or int8 predictions are not an AMX CPU's."""
    from harness.engine import inference

    from .cpu_profiles import PROFILES

    runtime = Runtime(device="cpu", cache=Cache(tmp_path))
    keys = set()
    for profile in PROFILES.values():
        with monkeypatch.context() as patch:
            profile.apply(patch)
            keys.add(runtime.cache_key("features", texts="t"))
    assert len(keys) == len(PROFILES)
    monkeypatch.setattr(inference, "cpu_flags", lambda: {"avx2", "fma", "sse4_2", "rdrand"})
    same_units = runtime.cache_key("features", texts="t")
    monkeypatch.setattr(inference, "cpu_flags", lambda: {"avx2", "fma", "sse4_2"})
    assert runtime.cache_key("features", texts="t") == same_units  # flags of no vector unit do not count
