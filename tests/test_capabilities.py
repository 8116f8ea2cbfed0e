"""Approach capabilities are class attributes, and every pair record says how it was measured.

The engine writes what the report needs of an approach (does its predict step run the model?) and the
pair's resolved runtime and ``cached`` into the record; the report reads only the record. A registered
approach is reported like a built-in one.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

import harness
from harness import Approach, Runtime, register_approach
from harness.engine.approaches import approach_spec, get_approach
from harness.engine.approaches.registry import BUILTIN
from harness.engine.cache import Cache
from harness.engine.data import load_local
from harness.engine.evaluation import evaluate
from harness.engine.run import PairOutcome
from harness.engine.curves import summarize
from harness.report.content import UNRECORDED, leaderboard
from harness.report.curves import curve_answer
from harness.report.table import leaderboard as terminal_leaderboard
from harness.results import PairRecord, SuiteDocument
from harness.results.curves import CurvePoint, SeedScore

from .conftest import LABELS
from .test_approaches import TfidfLogReg


class KeywordLogReg(TfidfLogReg):
    """A user approach whose predict step runs its whole model (a TF-IDF logistic regression)."""


class Lookup(Approach):
    """A user approach whose predict step looks each text's first word up in a table built in ``fit``."""

    runs_model = False
    no_model_reason = "looks up answers computed in fit"

    def fit(self, X, y, *, labels=(), **context):
        counts = {}
        for text, label in zip(X, y, strict=True):
            counts.setdefault(text.split()[0], np.ones(len(labels)))[label] += 1
        self.table_ = {word: row / row.sum() for word, row in counts.items()}
        self.prior_ = np.full(len(labels), 1 / len(labels))
        return self

    def predict_proba(self, X, **context):
        return np.stack([self.table_.get(text.split()[0], self.prior_) for text in X])


@pytest.fixture(scope="module")
def dataset(dataset_dir):
    return load_local(dataset_dir, LABELS)


@pytest.fixture(scope="module")
def user_approaches():
    register_approach("keyword-logreg-test", expensive=True)(KeywordLogReg)
    register_approach("lookup-test", expensive=False)(Lookup)
    return approach_spec("keyword-logreg-test"), approach_spec("lookup-test")


def record(evaluation) -> PairRecord:
    outcome = PairOutcome("s", "no-checkpoint", evaluation.approach, status="passed", evaluation=evaluation)
    return PairRecord.model_validate(outcome.record({}))


def document(*records: PairRecord) -> SuiteDocument:
    return SuiteDocument(suite="s", run_id="r", environment={}, pairs=list(records))


def test_built_in_capabilities_are_class_attributes():
    names = ("finetune", "features-logreg", "most-frequent")
    finetune, features, most_frequent = (get_approach(name) for name in names)
    assert finetune.runs_model and finetune.export_format == "classifier" and finetune.deployment_graph
    assert features.export_format == "features" and features.deployment_graph and not features.runs_model
    assert most_frequent.no_model_reason == "runs no model" and most_frequent.deployment_graph is None
    assert finetune.uses_checkpoint and finetune.seeded  # from __init__'s parameters
    assert not most_frequent.uses_checkpoint and not most_frequent.seeded
    assert get_approach("zero-shot").zero_shot and get_approach("zero-shot-nli").zero_shot
    assert not get_approach("setfit").zero_shot and get_approach("setfit").runs_model
    assert not KeywordLogReg.uses_checkpoint and KeywordLogReg.runs_model  # a user approach's defaults


def test_no_approach_name_is_a_string_outside_the_approaches_package():
    """The rest of the harness reads capabilities, never names (docstrings may show examples)."""
    root = Path(harness.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if "approaches" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in BUILTIN:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_a_registered_approach_is_reported_like_a_built_in_one(dataset, user_approaches, tmp_path):
    runtime = Runtime(cache=Cache(tmp_path / "cache"))
    runs, lookup = (record(evaluate("s", "tiny", dataset, None, spec, runtime)) for spec in user_approaches)
    assert runs.approach.runs_model and runs.cached is False and str(runs.runtime) == "cpu · fp32 · 64"
    assert lookup.approach.no_model_reason == "looks up answers computed in fit" and lookup.cached is False
    board = leaderboard(document(runs, lookup))
    column = {name: i for i, name in enumerate(board.headers)}
    speed = {row[column["approach"]].text: row[column["predict texts/s"]].text for row in board.rows}
    assert speed["keyword-logreg-test"] == f"{runs.n_examples / runs.timings.predict:,.0f}"
    assert speed["lookup-test"] == "—"
    assert "lookup-test looks up answers computed in fit" in board.note
    assert "keyword-logreg-test" not in board.note
    terminal = terminal_leaderboard([runs, lookup])
    assert f"{runs.n_examples / runs.timings.predict:,.0f}" in terminal and "cpu · fp32 · 64" in terminal

    again = record(evaluate("s", "tiny", dataset, None, user_approaches[0], runtime))
    assert again.cached is True and again.timings.fit == runs.timings.fit  # the earlier run's timings
    board = leaderboard(document(again))
    row = dict(zip(board.headers, (cell.text for cell in board.rows[0]), strict=True))
    assert row["fit s"] == f"{runs.timings.fit:.2f} (cached)" and row["predict texts/s"].endswith("(cached)")
    assert "are those of the earlier run that computed them" in board.note
    assert "(cached): timings measured by the earlier run" in terminal_leaderboard([again])


def test_the_record_holds_the_dtype_auto_resolved_to(dataset, user_approaches, cpu_profile):
    evaluation = evaluate("s", "tiny", dataset, None, user_approaches[1], Runtime(dtype="auto", batch_size=8))
    expected = "bf16" if cpu_profile.native("bf16") else "fp32"
    assert record(evaluation).runtime.model_dump() == {"device": "cpu", "dtype": expected, "batch_size": 8}


def test_a_spec_runtime_override_is_what_its_record_and_leaderboard_show(dataset, user_approaches):
    spec = approach_spec("lookup-test", runtime={"batch_size": 16}, variant="b16")
    features = record(evaluate("s", "tiny", dataset, None, user_approaches[1], Runtime()))
    overridden = record(evaluate("s", "tiny", dataset, None, spec, Runtime()))
    board = leaderboard(document(features, overridden))
    shown = {row[2].text: row[board.headers.index("runtime")].text for row in board.rows}
    assert shown == {"lookup-test": "cpu · fp32 · 64", spec.id: "cpu · fp32 · 16"}


def test_an_older_record_without_capabilities_or_runtime_reads_neutrally():
    old = {
        "suite": "s", "checkpoint": "c", "status": "passed", "reason": None, "split": "validation",
        "approach": {"name": "finetune", "variant": None, "id": "finetune", "params": {}},
        "n_examples": 10, "timings": {"fit": 1.0, "predict": 0.5, "score": 0.01},
        "metrics": {"accuracy": 0.5, "f1_weighted": 0.5, "f1_macro": 0.5},
    }
    pair = PairRecord.model_validate(old)
    assert pair.approach.runs_model is None and pair.runtime is None and pair.cached is None
    board = leaderboard(document(pair))
    row = dict(zip(board.headers, (cell.text for cell in board.rows[0]), strict=True))
    assert (row["predict texts/s"], row["runtime"], row["fit s"]) == ("—", "—", "1.00")
    assert f"finetune {UNRECORDED}" in board.note and "cached" not in board.note


def curve_point(name: str, shots, accuracy: float, zero_shot: bool | None) -> CurvePoint:
    scores = [SeedScore(seed=0, n_train=0 if shots is None else 6 * shots,
                        metrics={"accuracy": accuracy, "f1_weighted": accuracy, "f1_macro": accuracy})]
    return CurvePoint(checkpoint="c", approach=name, approach_name=name, zero_shot=zero_shot, shots=shots,
                      train_split="train", split="validation", n_examples=10, n_classes=6, seeds=scores,
                      summary=summarize(scores))


def test_the_learning_curve_compares_with_what_its_record_calls_zero_shot():
    """A registered zero-shot approach is the curve's reference like the built-in ones; a point of an
    older file, which does not say, is no reference."""
    learned = [curve_point("my-setfit", shots, accuracy, False) for shots, accuracy in ((2, 0.4), (8, 0.7))]
    answer = curve_answer([curve_point("prompting", None, 0.5, True), *learned])
    assert answer[0].startswith("my-setfit: matches zero-shot (0.500) with 8 labels per class (0.700)")
    assert "best zero-shot: prompting, 0.500" in answer[-1]
    older = curve_answer([curve_point("zero-shot", None, 0.5, None), *learned])
    assert "zero-shot" not in older[0] and "best zero-shot" not in older[-1]
