"""Paired comparisons inside one run and between two suite result files (``harness compare``)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from harness.engine import stats
from harness.commands.compare import main
from harness.engine.metrics import score
from harness.results import PairRecord, validate
from harness.engine.compare import compare_pair, compare_records

LABELS = ["sadness", "joy", "love"]
N = 400


def outcomes(seed: int = 0):
    """Gold labels and a base prediction that is right 80% of the time."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, N)
    return gold, np.where(rng.random(N) < 0.8, gold, (gold + 1) % 3)


def skipped_record(checkpoint, approach):
    """A pair record (JSON data) of a pair that never ran, with the keys every record has."""
    return {
        "schema_version": 1,
        "suite": "emotion",
        "checkpoint": checkpoint,
        "approach": {"name": approach, "variant": None, "id": approach, "params": {}},
        "status": "skipped",
        "reason": "not available here",
        "split": None,
        "n_examples": None,
        "metrics": None,
        "timings": None,
    }


def pair_record(checkpoint, approach, gold, predicted, fingerprint="same-examples"):
    """An evaluated pair record (JSON data) with the keys a comparison reads (real scorer's metrics)."""
    proba = np.eye(len(LABELS))[predicted]
    return skipped_record(checkpoint, approach) | {
        "status": "passed",
        "reason": None,
        "split": "validation",
        "n_examples": len(gold),
        "labels": LABELS,
        "eval_fingerprint": fingerprint,
        "metrics": score(gold, proba, LABELS)["metrics"],
        "timings": {"fit": 1.0, "predict": 1.0, "score": 0.1},
        "predictions": {"gold": gold.tolist(), "predicted": predicted.tolist()},
    }


def typed(*records) -> list[PairRecord]:
    """The records as the typed, validated objects the comparison functions take."""
    return [validate(record, PairRecord) for record in records]


def improved(gold, predicted, n_fixed: int):
    """``predicted`` with its first ``n_fixed`` mistakes corrected."""
    better = predicted.copy()
    fixed = np.flatnonzero(better != gold)[:n_fixed]
    better[fixed] = gold[fixed]
    return better


def test_a_clear_improvement_has_a_winner_and_every_field_of_the_format():
    gold, base = outcomes()
    a = pair_record("m", "finetune", gold, improved(gold, base, 40))
    b = pair_record("m", "features-logreg-mean", gold, base)
    (comparison,) = compare_pair(*typed(a, b))
    assert comparison.to_json() == {
        "a": {"checkpoint": "m", "approach": "finetune"},
        "b": {"checkpoint": "m", "approach": "features-logreg-mean"},
        "metric": "accuracy",
        "a_value": a["metrics"]["accuracy"],
        "b_value": b["metrics"]["accuracy"],
        "difference": pytest.approx(40 / N),
        "ci": stats.paired_bootstrap(gold, np.array(a["predictions"]["predicted"]), base, 3)["accuracy"],
        "mcnemar_p": pytest.approx(2 * 0.5**40),
        "n_discordant": [40, 0],
        "n_examples": N,
        "winner": "a",
        "per_seed": [],  # pairs fitted once per seed only
    }


def test_swapping_mistakes_is_no_win_for_either_side():
    gold, base = outcomes()
    other = improved(gold, base, 5)
    broken = np.flatnonzero(other == gold)[:5]  # and five new mistakes elsewhere
    other[broken] = (gold[broken] + 1) % 3
    a, b = typed(pair_record("m", "x", gold, other), pair_record("m", "y", gold, base))
    (comparison,) = compare_pair(a, b)
    assert comparison.difference == 0 and comparison.n_discordant == [5, 5]
    assert comparison.mcnemar_p == pytest.approx(1.0) and comparison.winner is None


def test_compare_records_pairs_only_evaluated_records_on_the_same_examples():
    gold, base = outcomes()
    records = typed(
        pair_record("m", "a", gold, base),
        pair_record("m", "b", gold, improved(gold, base, 10)),
        pair_record("m", "c", gold, base, fingerprint="other-examples"),
        skipped_record("m", "d"),
        pair_record("n", "a", gold, improved(gold, base, 20)),
    )
    comparisons = compare_records(records, metrics=("accuracy", "f1_macro"))
    pairs = [(c.a.approach, c.b.checkpoint, c.b.approach, c.metric) for c in comparisons]
    assert pairs == [
        ("a", "m", "b", "accuracy"),
        ("a", "m", "b", "f1_macro"),
        ("a", "n", "a", "accuracy"),
        ("a", "n", "a", "f1_macro"),
        ("b", "n", "a", "accuracy"),
        ("b", "n", "a", "f1_macro"),
    ]
    assert comparisons[0].difference == pytest.approx(-10 / N)


def test_comparing_different_examples_is_an_error():
    gold, base = outcomes()
    a, b = typed(pair_record("m", "a", gold, base), pair_record("m", "b", gold, base, fingerprint="x"))
    with pytest.raises(ValueError, match=r"eval_fingerprint differs"):
        compare_pair(a, b)


def suite_file(path, records, run_id="run", **environment):
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "kind": "harness.suite",
                "suite": "emotion",
                "run_id": run_id,
                "environment": {"cpu": "CPU X", "gpu": None, "versions": {"torch": "2.13.0"}, **environment},
                "datasets": {},
                "pairs": records,
                "performance": [],
                "comparisons": [],
            }
        )
    )
    return path


@pytest.fixture
def two_runs(tmp_path):
    gold, base = outcomes()
    a = suite_file(
        tmp_path / "a.json",
        [
            pair_record("MiniLM", "finetune", gold, improved(gold, base, 40)),
            pair_record("MiniLM", "most-frequent", gold, base),
            pair_record("MiniLM", "features-logreg-cls", gold, base, fingerprint="test-split"),
            pair_record("MiniLM", "only-here", gold, base),
            skipped_record("distilbert", "finetune"),
        ],
        run_id="run-a",
    )
    b = suite_file(
        tmp_path / "b.json",
        [
            pair_record("MiniLM", "finetune", gold, base),
            pair_record("MiniLM", "most-frequent", gold, base),
            pair_record("MiniLM", "features-logreg-cls", gold, base),
            pair_record("distilbert", "finetune", gold, base),
        ],
        run_id="run-b",
        cpu="CPU Y",
    )
    return a, b


def test_cli_prints_a_markdown_comparison_and_says_what_was_not_compared(two_runs, capsys):
    a, b = two_runs
    assert main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert f"# Comparison: A = {a}, B = {b}" in out
    assert f"| A | {a} | emotion | run-a |" in out and "| CPU X |" in out and "| CPU Y |" in out
    assert "## Pairs compared (2)" in out
    assert (
        "| MiniLM | finetune | accuracy | 0.9000 | 0.8000 | +0.1000 |" in out
        and "| +0.1000 |" in out
        and "| 40 / 0 | 400 | A |" in out
    )
    assert "| MiniLM | most-frequent | accuracy |" in out and "| 0 / 0 | 400 | – |" in out
    assert "## Not compared (3)" in out
    assert "- MiniLM · features-logreg-cls: they scored different examples (eval_fingerprint differs)" in out
    assert f"- MiniLM · only-here: only in {a}" in out
    assert "- distilbert · finetune: A was not evaluated (status skipped)" in out


def test_cli_compares_the_metrics_asked_for(two_runs, capsys):
    a, b = two_runs
    assert main([str(a), str(b), "--metric", "accuracy", "--metric", "f1_macro"]) == 0
    out = capsys.readouterr().out
    assert "| MiniLM | finetune | accuracy |" in out and "| MiniLM | finetune | f1_macro |" in out


def test_cli_exits_1_when_no_pair_can_be_compared(tmp_path, capsys):
    gold, base = outcomes()
    a = suite_file(tmp_path / "a.json", [pair_record("m", "x", gold, base)])
    b = suite_file(tmp_path / "b.json", [pair_record("m", "y", gold, base)])
    assert main([str(a), str(b)]) == 1
    assert "No pair could be compared." in capsys.readouterr().out


def test_cli_reports_a_bad_file_in_one_line_and_exits_2(tmp_path, capsys):
    gold, base = outcomes()
    good = suite_file(tmp_path / "good.json", [pair_record("m", "x", gold, base)])
    unreadable, not_json = tmp_path / "missing.json", tmp_path / "broken.json"
    not_json.write_text("{not json")
    bad_id = pair_record("m", "x", gold, base)
    bad_id["predictions"]["predicted"][3] = 7
    twice = pair_record("m", "x", gold, base)
    not_finite = pair_record("m", "x", gold, base)
    not_finite["metrics"]["accuracy"] = float("nan")  # json.dumps writes NaN
    for bad, says in [
        (unreadable, "no such file"),
        (not_json, "invalid JSON"),
        (suite_file(tmp_path / "bad-id.json", [bad_id]), "pairs[0].predictions.predicted[3]"),
        (
            suite_file(tmp_path / "nan.json", [not_finite]),
            "pairs[0].metrics.accuracy: expected a finite number, got NaN",
        ),
        (
            suite_file(tmp_path / "twice.json", [twice, twice]),
            "pairs[1]: ('m', 'x') appears twice (also pairs[0]); expected one record each",
        ),
    ]:
        assert main([str(good), str(bad)]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(f"harness compare: {bad}") and says in captured.err
        assert captured.err.count("\n") == 1 and captured.out == ""


def test_python_dash_m_harness_compare_runs_the_command(two_runs):
    """``python -m harness compare`` is the ``harness compare`` command."""
    a, b = two_runs
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", str(a), str(b)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "## Pairs compared (2)" in done.stdout
