"""Few labels: stratified samples, seeds and their mean/std, zero-shot (embeddings and NLI), SetFit,
learning curves through the plugin, seeded pairs, and the report's learning-curve section."""

import json
import sys

import datasets  # noqa: F401  imported once here: in-process pytester runs must not re-import it
import numpy as np
import pytest

from harness import Approach, approach_spec, register_approach
from harness.engine.approaches.registry import ApproachError
from harness.engine.checkpoints import resolve_checkpoint
from harness.engine.curves import (
    CurveError, check_seeds, check_shots, curve_points, stratified_sample, summarize,
)
from harness.engine.data import DatasetError, load_dataset
from harness.errors import NotApplicable
from harness.report import render_suite
from harness.report.curves import curve_table_text, metric_with_spread
from harness.results import SuiteDocument
from harness.results.curves import CurvePoint, SeedComparison, SeedRuns, SeedScore, SeedSummary
from harness.engine.runtime import Runtime

from .conftest import LABELS
from .generated_suite import suite_source
from .report_fixture import suite_document

SEEN: dict[str, list] = {}  # approach variant → the (sorted) train texts of every fit


@register_approach("recording-test", expensive=False)
class Recording(Approach):
    """Predicts the class prior of what it saw, and records which texts it was fitted on."""

    def __init__(self, tag="a"):
        self.tag = tag

    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):
        SEEN.setdefault(self.tag, []).append(sorted(X))
        self.prior_ = np.bincount(y, minlength=len(labels)) / len(y)
        return self

    def predict_proba(self, X, *, runtime=None):
        return np.tile(self.prior_, (len(X), 1))


@pytest.fixture(scope="module")
def tiny_data(dataset_dir):
    return load_dataset(str(dataset_dir))


# --- stratified samples -------------------------------------------------------------------------


def test_stratified_sample_takes_shots_of_every_class_and_nests_across_sizes():
    y = np.repeat(np.arange(3), [10, 20, 30])
    small, large = (stratified_sample(y, k, seed=1, labels="abc", where="d") for k in (2, 5))
    assert np.bincount(y[small]).tolist() == [2, 2, 2]
    assert np.bincount(y[large]).tolist() == [5, 5, 5]
    assert set(small) <= set(large)
    assert np.array_equal(small, stratified_sample(y, 2, seed=1, labels="abc", where="d"))
    assert not np.array_equal(large, stratified_sample(y, 5, seed=2, labels="abc", where="d"))


def test_stratified_sample_larger_than_a_class_is_one_line():
    y = np.repeat(np.arange(2), [10, 3])
    with pytest.raises(DatasetError) as error:
        stratified_sample(y, 4, seed=0, labels=["pos", "neg"], where="dataset 'x' split 'train'")
    assert str(error.value) == (
        "dataset 'x' split 'train': class 'neg' has 3 examples; "
        "a learning curve at 4 per class needs at least that many"
    )


def test_every_approach_sees_the_same_samples_for_a_size_and_seed(tiny_data):
    SEEN.clear()
    for tag in ("a", "b"):
        spec = approach_spec("recording-test", tag=tag)
        points = curve_points("s", "tiny", tiny_data, None, spec, Runtime(), [2, 8, "all"], [0, 1])
        assert [(p.shots, len(p.seeds)) for p in points] == [(2, 2), (8, 2), ("all", 2)]
        assert [s.n_train for p in points for s in p.seeds] == [12, 12, 48, 48, 240, 240]
    assert SEEN["a"] == SEEN["b"]
    assert SEEN["a"][0] != SEEN["a"][1]  # another seed, another sample


def test_an_approach_may_run_at_some_sizes_only(tiny_data):
    spec = approach_spec("recording-test", tag="c", shots=[8])
    points = curve_points("s", "tiny", tiny_data, None, spec, Runtime(), [2, 8, "all"], [0])
    assert [p.shots for p in points] == [8]
    with pytest.raises(CurveError, match=r"^approach 'recording-test-c': shots = \[0\]: expected"):
        curve_points(
            "s",
            "tiny",
            tiny_data,
            None,
            approach_spec("recording-test", tag="c", shots=[0]),
            Runtime(),
            [2],
            [0],
        )


def test_a_reference_approach_is_scored_once_on_the_whole_train_split(tiny_data):
    (point,) = curve_points(
        "s", "tiny", tiny_data, None, approach_spec("most-frequent"), Runtime(), [2, 8], [0, 1]
    )
    assert point.shots is None and [s.seed for s in point.seeds] == [None]
    assert point.seeds[0].n_train == 240


SHOTS_EXPECTED = "expected a non-empty list of distinct positive integers (examples per class) or 'all'"


@pytest.mark.parametrize(
    "check, value, message",
    [
        (
            check_shots,
            [8, 0],
            f"SHOTS = [8, 0]: {SHOTS_EXPECTED}",
        ),
        (
            check_shots,
            [8, 8],
            f"SHOTS = [8, 8]: {SHOTS_EXPECTED}",
        ),
        (
            check_shots,
            8,
            f"SHOTS = 8: {SHOTS_EXPECTED}",
        ),
        (check_seeds, [0, "1"], "SEEDS = [0, '1']: expected a non-empty list of distinct integers"),
    ],
)
def test_bad_shots_and_seeds_are_one_line(check, value, message):
    with pytest.raises(CurveError) as error:
        check(value)
    assert str(error.value) == message


# --- mean and std over seeds ------------------------------------------------------------------


def _score(seed, accuracy, ci=None):
    return SeedScore(
        seed=seed,
        n_train=10,
        metrics={"accuracy": accuracy, "f1_weighted": accuracy, "f1_macro": accuracy / 2},
        ci={"accuracy": ci} if ci else {},
    )


def test_summary_is_the_mean_and_sample_std_over_seeds():
    summary = summarize(
        [_score(0, 0.5, [0.45, 0.55]), _score(1, 0.6, [0.55, 0.65]), _score(2, 0.7, [0.65, 0.75])]
    )
    assert summary.mean["accuracy"] == pytest.approx(0.6)
    assert summary.std["accuracy"] == pytest.approx(0.1)  # n - 1
    assert summary.mean["f1_macro"] == pytest.approx(0.3)
    assert summary.seed_range == pytest.approx(0.2)
    assert summary.ci_width == pytest.approx(0.1)
    assert summary.spread_exceeds_ci  # 0.2 of spread against a 0.1-wide CI


def test_one_seed_has_no_spread():
    summary = summarize([_score(0, 0.5, [0.3, 0.7])])
    assert summary.std["accuracy"] == 0.0
    assert not summary.spread_exceeds_ci


# --- zero-shot ------------------------------------------------------------------------------


def test_zero_shot_with_label_descriptions(tiny_checkpoint, tiny_data):
    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    texts = list(tiny_data["validation"]["text"][:12])
    plain = approach_spec("zero-shot").build(checkpoint).fit(labels=LABELS)
    described = (
        approach_spec(
            "zero-shot", variant="described", descriptions={name: f"i feel {name} today" for name in LABELS}
        )
        .build(checkpoint)
        .fit(labels=LABELS)
    )
    assert described.label_texts_ == [f"i feel {name} today" for name in LABELS]
    for estimator in (plain, described):
        proba = estimator.predict_proba(texts)
        assert proba.shape == (12, len(LABELS))
        assert np.allclose(proba.sum(axis=1), 1)
    assert not np.allclose(plain.predict_proba(texts), described.predict_proba(texts))


def test_zero_shot_scores_a_text_most_like_its_own_label():
    from harness.engine.approaches.zero_shot import cosine_softmax

    labels = np.eye(3)
    texts = np.array([[2.0, 0.1, 0.0], [0.0, 0.0, 5.0]])
    proba = cosine_softmax(texts, labels, temperature=0.1)
    assert proba.argmax(axis=1).tolist() == [0, 2]
    assert np.allclose(proba.sum(axis=1), 1)


def test_zero_shot_descriptions_must_cover_every_label(tiny_checkpoint):
    estimator = approach_spec("zero-shot", variant="d", descriptions={"joy": "happy"}).build(
        resolve_checkpoint(str(tiny_checkpoint))
    )
    with pytest.raises(ApproachError) as error:
        estimator.fit(labels=["joy", "anger"])
    assert str(error.value) == (
        "approach 'zero-shot': descriptions has no entry for label(s) ['anger']; expected one per label of "
        "['joy', 'anger']"
    )


def test_zero_shot_nli_without_an_entailment_head_is_not_applicable(tiny_classifier_checkpoint):
    estimator = approach_spec("zero-shot-nli").build(resolve_checkpoint(str(tiny_classifier_checkpoint)))
    with pytest.raises(NotApplicable) as error:
        estimator.fit(labels=LABELS)
    assert (
        "has no entailment head (config.json: id2label "
        "['anger', 'fear', 'joy', 'love', 'sadness', 'surprise']); zero-shot-nli needs an NLI checkpoint"
        in str(error.value)
    )


@pytest.fixture(scope="module")
def tiny_nli_checkpoint(tmp_path_factory, tiny_checkpoint):
    """The tiny BERT with a random 3-way NLI head (contradiction, neutral, entailment)."""
    import shutil

    import torch
    from transformers import BertConfig, BertForSequenceClassification

    directory = tmp_path_factory.mktemp("tiny-nli")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_checkpoint / name, directory / name)
    config = BertConfig.from_pretrained(tiny_checkpoint)
    config.id2label = {0: "contradiction", 1: "neutral", 2: "entailment"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    return directory


def test_zero_shot_nli_gives_one_probability_per_label(tiny_nli_checkpoint, tiny_data):
    estimator = approach_spec("zero-shot-nli").build(resolve_checkpoint(str(tiny_nli_checkpoint)))
    proba = estimator.fit(labels=LABELS).predict_proba(list(tiny_data["validation"]["text"][:5]))
    assert proba.shape == (5, len(LABELS))
    assert np.allclose(proba.sum(axis=1), 1)


# --- SetFit ------------------------------------------------------------------------------------


def test_setfit_fits_a_plain_bert_directory_and_caches_it(tiny_checkpoint, tiny_data, tmp_path):
    pytest.importorskip("setfit")
    from harness.engine.cache import Cache

    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    train = tiny_data["train"].select(range(24))
    texts = list(tiny_data["validation"]["text"][:8])
    spec = approach_spec("setfit", max_steps=2, batch_size=4, seed=3)
    runtime = Runtime(cache=Cache(tmp_path))
    first = spec.build(checkpoint).fit(
        train["text"], np.array(train["label"]), runtime=runtime, labels=LABELS
    )
    proba = first.predict_proba(texts, runtime=runtime)
    assert proba.shape == (8, len(first.classes_))
    assert np.allclose(proba.sum(axis=1), 1)
    again = spec.build(checkpoint).fit(
        train["text"], np.array(train["label"]), runtime=runtime, labels=LABELS
    )
    assert [kind for kind, _ in runtime.cache.hits] == ["setfit"]
    assert np.allclose(again.predict_proba(texts, runtime=runtime), proba, atol=1e-5)


@pytest.mark.parametrize("library", ["setfit", "sentence_transformers"])
def test_setfit_without_its_library_is_not_applicable(tiny_checkpoint, monkeypatch, library):
    monkeypatch.setitem(sys.modules, library, None)  # import raises ImportError, as when not installed
    estimator = approach_spec("setfit").build(resolve_checkpoint(str(tiny_checkpoint)))
    with pytest.raises(NotApplicable) as error:
        estimator.fit(["a b", "c d"], np.array([0, 1]), labels=["x", "y"])
    assert str(error.value) == (
        f"approach 'setfit' needs the {library} library, not installed here: "
        "pip install 'harness[fewlabels]'"
    )


def test_setfit_refuses_modules_a_checkpoint_names_outside_sentence_transformers(tiny_checkpoint, tmp_path):
    pytest.importorskip("setfit")
    import shutil

    from harness.engine.checkpoints import CheckpointError

    directory = tmp_path / "custom"
    shutil.copytree(tiny_checkpoint, directory)
    (directory / "modules.json").write_text(
        json.dumps([{"idx": 0, "name": "0", "path": "", "type": "evil.Module"}])
    )
    estimator = approach_spec("setfit").build(resolve_checkpoint(str(directory)))
    with pytest.raises(CheckpointError) as error:
        estimator.fit(["a b", "c d"], np.array([0, 1]), labels=["x", "y"])
    assert (
        "modules.json names module types ['evil.Module']; expected sentence_transformers modules only"
        in str(error.value)
    )


# --- through the plugin --------------------------------------------------------------------------

CURVE_SUITE = """
import numpy as np
from harness import Approach, register_approach

@register_approach("seeded-test", expensive=False)
class Seeded(Approach):
    '''Right on a seed-dependent share of the texts: a different score for every seed.'''
    def __init__(self, seed=0, skill=0.5):
        self.seed, self.skill = seed, skill
    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):
        self.n_labels_ = len(labels)
        return self
    def predict_proba(self, X, *, runtime=None):
        rng = np.random.default_rng(self.seed)
        proba = rng.random((len(X), self.n_labels_))
        return proba / proba.sum(axis=1, keepdims=True)

APPROACHES = [approach_spec("most-frequent"), approach_spec("seeded-test", variant="a"),
              approach_spec("seeded-test", variant="b", skill=0.6)]
SHOTS = [2, 4, "all"]
SEEDS = [0, 1, 2]
CURVE_GATES = {"seeded-test-a": {4: {"accuracy": 0.99}}, "most-frequent": {None: {"accuracy": 0.0}}}

def test_relative(curve):
    assert curve("seeded-test-a", 2).mean["accuracy"] >= 0
    assert curve("most-frequent", 2).shots is None
"""


@pytest.fixture(scope="module")
def curve_run(tmp_path_factory, tiny_checkpoint, dataset_dir):
    out = tmp_path_factory.mktemp("curves")
    suite = out / "test_curves_suite.py"
    suite.write_text(suite_source([tiny_checkpoint], CURVE_SUITE))
    code = pytest.main(
        [
            str(suite),
            "--import-mode=importlib",
            f"--data-dir={dataset_dir.parent}",
            f"--report-dir={out / 'reports'}",
            "--device=cpu",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
    )
    reports = out / "reports"
    return code, json.loads((reports / "curves_suite.json").read_text(encoding="utf-8")), reports


def test_learning_curves_are_written_with_every_seed(curve_run):
    code, doc, _ = curve_run
    assert code == 1  # the 0.99 gate fails
    points = {(p["approach"], p["shots"]): p for p in doc["learning_curves"]}
    assert sorted(points, key=str) == sorted(
        [
            ("most-frequent", None),
            *((a, s) for a in ("seeded-test-a", "seeded-test-b") for s in (2, 4, "all")),
        ],
        key=str,
    )
    point = points["seeded-test-a", 4]
    assert [s["seed"] for s in point["seeds"]] == [0, 1, 2]
    accuracies = [s["metrics"]["accuracy"] for s in point["seeds"]]
    assert point["summary"]["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert point["summary"]["std"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert point["status"] == "failed"
    assert point["gates"][0]["threshold"] == 0.99
    assert points["most-frequent", None]["seeds"][0]["n_train"] == 240


def test_learning_curve_section_of_the_report(curve_run):
    _, doc, reports = curve_run
    markdown = (reports / "curves_suite.md").read_text(encoding="utf-8")
    summary = markdown.split("## Summary\n\n", 1)[1].split("\n## ", 1)[0]
    assert summary.startswith("**Failed: 1 of 4 tests failed")  # the run's verdict (the 0.99 gate fails)
    answer = summary.index("How many labels per class:\n\n- seeded-test-a: ")  # then the answer
    assert answer < summary.index("pairs: ") < summary.index("Fastest checkpoint")
    assert "| seeded-test-a " in summary and " reference |" in summary  # then the curve's table
    assert "## Learning curve" not in markdown  # its table is in the summary
    page = (reports / "curves_suite.html").read_text(encoding="utf-8")
    opening = page.split('<section id="summary">', 1)[1].split("</section>", 1)[0]
    answer, figure = opening.index('<ul class="curve-answer">'), opening.index('src="data:image/png;base64,')
    assert answer < figure < opening.index("<p>")  # the answer, the figure, then the pair counts
    curve = page.split('<section id="learning-curve">', 1)[1].split("</section>", 1)[0]
    assert "seeded-test-b" in curve
    assert "No pair was evaluated" not in markdown + page
    assert "seeded-test-b" in curve_table_text([CurvePoint.model_validate(p) for p in doc["learning_curves"]])


def test_the_run_keeps_where_its_time_went(curve_run):
    _, doc, reports = curve_run
    phases = doc["phases"]
    kinds = {p["phase"] for p in phases}
    assert {"dataset load", "dataset overview", "fit", "predict", "score", "report rendering"} <= kinds
    fits = [p for p in phases if p["phase"] == "fit" and p.get("approach") == "seeded-test-a"]
    assert len(fits) == 9 and {p["split"] for p in fits} == {"train"}  # 3 sizes x 3 seeds
    assert {p["detail"] for p in fits} >= {"2/class · seed 0", "all · seed 2"}
    assert all(p["seconds"] >= 0 and p["suite"] == "curves_suite" for p in phases)
    markdown = (reports / "curves_suite.md").read_text(encoding="utf-8")
    assert "## Where the time went" in markdown and "fit (train)" in markdown


def test_a_report_without_learning_curves_has_no_such_section(tmp_path):
    doc = SuiteDocument.model_validate(suite_document())
    assert not doc.learning_curves
    md, page = (path.read_text(encoding="utf-8") for path in render_suite(doc, tmp_path))
    assert "Learning curve" not in md and "learning-curve" not in page


def test_curve_section_escapes_names(tmp_path):
    point = CurvePoint(
        checkpoint="<script>alert(1)</script>",
        approach="a|b",
        approach_name="a",
        shots=8,
        train_split="train",
        split="validation",
        n_examples=10,
        n_classes=2,
        seeds=[_score(0, 0.5)],
        summary=summarize([_score(0, 0.5)]),
    )
    doc = SuiteDocument.model_validate({**suite_document(), "learning_curves": [point.to_json()]})
    md, page = (path.read_text(encoding="utf-8") for path in render_suite(doc, tmp_path))
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a\\|b" in md
    assert "<script>" in curve_table_text([point])  # the terminal shows the text as it is


SEEDED_SUITE = """
import numpy as np
from harness import Approach, register_approach

@register_approach("seeded-pair-test", expensive=False)
class Seeded(Approach):
    def __init__(self, seed=0):
        self.seed = seed
    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):
        self.n_labels_ = len(labels)
        return self
    def predict_proba(self, X, *, runtime=None):
        proba = np.random.default_rng(self.seed).random((len(X), self.n_labels_))
        return proba / proba.sum(axis=1, keepdims=True)

@pytest.fixture(params=[approach_spec("seeded-pair-test", variant="a", seeds=[0, 1]),
                        approach_spec("seeded-pair-test", variant="b", seeds=[0, 1]),
                        approach_spec("most-frequent", seeds=[0])], ids=str)
def approach(request):
    return request.param

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
"""


def test_seeded_pairs_record_every_seed_and_compare_seed_by_seed(
    tmp_path, tiny_checkpoint, dataset_dir
):
    suite = tmp_path / "test_seeded_suite.py"
    suite.write_text(suite_source([tiny_checkpoint], SEEDED_SUITE))
    code = pytest.main(
        [
            str(suite),
            "--import-mode=importlib",
            f"--data-dir={dataset_dir.parent}",
            f"--report-dir={tmp_path / 'r'}",
            "--device=cpu",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rf",
        ]
    )
    assert code == 1  # most-frequent has no seed hyperparameter
    doc = json.loads((tmp_path / "r" / "seeded_suite.json").read_text(encoding="utf-8"))
    records = {p["approach"]["id"]: p for p in doc["pairs"]}
    assert records["most-frequent"]["reason"] == (
        "approach 'most-frequent': seeds=[0] but it has no seed hyperparameter "
        "(its fit does not depend on one); "
        "remove seeds="
    )
    seeded = records["seeded-pair-test-a"]
    accuracies = [s["metrics"]["accuracy"] for s in seeded["seeds"]["seeds"]]
    assert len(set(accuracies)) == 2
    assert seeded["metrics"]["accuracy"] == accuracies[0]  # the record is the first seed's
    assert seeded["gates"][0]["value"] == pytest.approx(np.mean(accuracies))  # gates check the mean
    assert metric_with_spread(seeded) == (
        f"{np.mean(accuracies):.3f} ± {np.std(accuracies, ddof=1):.3f} (2 seeds)"
    )
    leaderboard = (tmp_path / "r" / "seeded_suite.md").read_text(encoding="utf-8").split("## Leaderboard")[1]
    assert "accuracy over seeds" in leaderboard.split("\n## ")[0]
    assert metric_with_spread(seeded) in leaderboard
    (comparison,) = doc["comparisons"]
    assert [s["seed"] for s in comparison["per_seed"]] == [0, 1]
    assert comparison["a_value"] == pytest.approx(np.mean(accuracies))


def test_seeds_and_learning_curves_are_documented_in_docs_results_md():
    from .test_results import documented_names

    for section, models in {
        "Seeds and learning curves": [SeedScore, SeedSummary, SeedRuns, CurvePoint],
        "Comparison": [SeedComparison],
    }.items():
        for model in models:
            missing = sorted(set(model.model_fields) - documented_names(section))
            assert not missing, f"docs/results.md, {section}: {model.__name__} fields {missing} not described"
