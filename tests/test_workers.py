"""Two pytest-xdist workers on one suite: one merged report, a shared cache, no double work."""

import json

import pytest

from .generated_suite import FOUR_APPROACHES, cache_entries, suite_source

pytest.importorskip("xdist")


def test_two_workers_share_the_cache_and_merge_one_report(pytester, tiny_checkpoint, dataset_dir, tmp_path):
    pytester.makepyfile(test_tiny=suite_source([tiny_checkpoint], FOUR_APPROACHES))
    cache_dir = tmp_path / "cache"
    args = ["-n", "2", "--benchmark", f"--data-dir={dataset_dir.parent}", f"--cache-dir={cache_dir}"]

    cold = pytester.runpytest_subprocess(*args, "--report-dir=cold")
    cold.assert_outcomes(passed=4)
    doc = json.loads((pytester.path / "cold" / "tiny.json").read_text())
    assert sorted(r["approach"]["id"] for r in doc["pairs"]) == [
        "features-logreg-cls",
        "features-logreg-mean",
        "features-logreg-mean-c0.1",
        "most-frequent",
    ]
    assert all(r["status"] == "passed" and r["metrics"] for r in doc["pairs"])
    assert (pytester.path / "cold" / "tiny.html").is_file()
    # Three estimators need the same train and eval features: computed once across both workers.
    entries = cache_entries(cache_dir)
    assert len(entries) == 2 + 3  # features of two text lists, predictions of three expensive pairs
    assert doc["cache"]["stores"] == len(entries)

    warm = pytester.runpytest_subprocess(*args, "--report-dir=warm")
    warm.assert_outcomes(passed=4)
    again = json.loads((pytester.path / "warm" / "tiny.json").read_text())
    assert again["cache"]["stores"] == 0 and cache_entries(cache_dir) == entries
    assert [r["cached"] for r in again["pairs"] if r["approach"]["name"] != "most-frequent"] == [True] * 3
    assert [r["metrics"] for r in again["pairs"]] == [r["metrics"] for r in doc["pairs"]]
