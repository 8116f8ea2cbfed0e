import math

import numpy as np
import pytest
import torch
from sklearn.base import clone

from harness import Approach, HarnessError, Runtime, register_approach
from harness.engine.approaches import ApproachError, approach_spec, get_approach
from harness.engine.approaches.features import FeatureLogReg, HiddenStateExtractor
from harness.engine.approaches.finetune import FineTune
from harness.engine.approaches.most_frequent import MostFrequent
from harness.engine.approaches.pretrained import LabelMismatch, Pretrained
from harness.engine.checkpoints import resolve_checkpoint
from harness.engine.inference import class_probabilities
from harness.engine.timing import training
from harness.engine.timing.timer import forward_flops
from harness.results.model import TrainingThroughput

from .conftest import LABELS

CPU = Runtime(device="cpu")


def test_most_frequent_predicts_the_majority_class_for_every_label_column():
    model = MostFrequent().fit(["x"] * 5, np.array([2, 2, 2, 0, 0]), labels=["a", "b", "c"])
    proba = model.predict_proba(["any", "text"])
    assert model.classes_.tolist() == [0, 2]  # columns for the classes seen; the evaluation places them
    assert proba.tolist() == [[0.0, 1.0], [0.0, 1.0]]
    assert model.predict(["t"]).tolist() == [1]


def test_mean_pooling_ignores_padding_and_cls_is_the_first_token(tiny):
    texts = ["i feel happy", "i feel so very sad and lonely and miserable today"]
    extractor = HiddenStateExtractor(tiny, Runtime(device="cpu", batch_size=2))
    cls, mean = extractor.transform(texts, "cls"), extractor.transform(texts, "mean")
    tokenizer, model = tiny.load_tokenizer(), tiny.load_model().eval()
    for i, text in enumerate(texts):  # one text at a time: no padding at all
        with torch.inference_mode():
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        assert np.allclose(cls[i], hidden[0].numpy(), atol=1e-5)
        assert np.allclose(mean[i], hidden.mean(dim=0).numpy(), atol=1e-5)


def test_extraction_is_computed_once_for_all_poolings(tiny, data):
    extractor = HiddenStateExtractor(tiny, CPU)
    texts = data["validation"][0]
    first = extractor.transform(texts, "cls")
    extractor._model = None  # a second forward pass would have to reload and would fail
    extractor._load = lambda: pytest.fail("features were extracted twice")
    assert extractor.transform(texts, "mean").shape == (len(texts), 32)
    assert extractor.transform(texts, "cls") is first


def test_feature_variants_share_an_extractor_only_when_its_settings_match(tiny, data):
    X, y = data["train"]
    runtime = Runtime(device="cpu")
    cls = FeatureLogReg(tiny, pooling="cls").fit(X, y, runtime=runtime)
    mean = FeatureLogReg(tiny, pooling="mean").fit(X, y, runtime=runtime)
    short = FeatureLogReg(tiny, pooling="mean", max_length=8).fit(X, y, runtime=runtime)
    other = FeatureLogReg(tiny, pooling="mean").fit(X, y, runtime=runtime.replace(batch_size=8))
    assert cls.extractor_ is mean.extractor_
    assert short.extractor_ is not mean.extractor_ and other.extractor_ is not mean.extractor_
    assert len(runtime.shared) == 3


def test_unknown_pooling_is_rejected(tiny):
    with pytest.raises(ValueError, match="pooling 'max'"):
        HiddenStateExtractor(tiny, CPU).transform(["x"], "max")


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_features_logreg_learns_the_tiny_task(tiny, data, pooling):
    (X, y), (X_val, y_val) = data["train"], data["validation"]
    model = FeatureLogReg(tiny, pooling=pooling)
    assert model.fit(X, y, runtime=CPU, labels=LABELS) is model
    proba = model.predict_proba(X_val, runtime=CPU)
    assert proba.shape == (len(X_val), 6)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(1) == y_val).mean() > 0.25  # chance is 1/6: random features carry the keyword
    assert clone(model).get_params()["pooling"] == pooling


def test_finetune_trains_with_trainer_and_keeps_its_history(tiny, data):
    (X, y), (X_val, y_val) = data["train"], data["validation"]
    model = FineTune(tiny, num_train_epochs=8, learning_rate=1e-3, batch_size=8, training_args={"warmup_steps": 20})
    assert model.fit(X, y, runtime=CPU, labels=LABELS, eval_set=(X_val, y_val)) is model
    proba = model.predict_proba(X_val, runtime=CPU)
    assert proba.shape == (len(X_val), 6)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.model_.config.id2label == dict(enumerate(LABELS))
    evals = [h for h in model.history_ if "eval_accuracy" in h]
    assert [h["epoch"] for h in evals] == [1, 2, 3, 4, 5, 6, 7, 8]
    best = max(h["eval_accuracy"] for h in evals)
    assert (proba.argmax(1) == y_val).mean() == pytest.approx(best)  # the best epoch is kept
    assert best > 0.5  # chance is 1/6: a random tiny BERT learns the keyword task in 8 epochs


def test_finetune_meters_the_useful_flops_of_its_training_epochs(tiny, data, monkeypatch):
    monkeypatch.setattr(training, "PEAK_INTERVAL_S", 0.0)  # a peak reading after every epoch
    (X, y), (X_val, y_val) = data["train"], data["validation"]
    model = FineTune(tiny, num_train_epochs=2, batch_size=8)
    model.fit(X, y, runtime=CPU, labels=LABELS, eval_set=(X_val, y_val))
    record = TrainingThroughput.model_validate(model.training_throughput_)
    lengths = [len(ids) for ids in model.tokenizer_(list(X), truncation=True, max_length=model.max_length_).input_ids]
    assert (record.texts, record.tokens) == (2 * len(X), 2 * sum(lengths))  # evaluation batches are not counted
    assert record.steps == 2 * math.ceil(len(X) / 8) and record.padded_tokens > record.tokens
    assert record.useful_gflop == pytest.approx(3 * forward_flops(model.model_, 2 * lengths) / 1e9)
    assert record.executed_gflop > record.useful_gflop
    assert record.gflops == pytest.approx(record.useful_gflop / record.train_s)
    assert len(record.gemm_peak_readings) == 3  # before training and after each epoch
    assert record.gemm_peak_gflops == max(record.gemm_peak_readings)
    assert record.peak_fraction == pytest.approx(record.gflops / record.gemm_peak_gflops)
    assert record.cpu_s > 0 and (record.device, record.dtype) == ("cpu", "fp32")


def test_the_gemm_peak_is_read_before_training_every_interval_at_epoch_ends_and_after(monkeypatch):
    readings = iter(range(1, 100))
    monkeypatch.setattr("harness.engine.timing.timer.measure_gemm_peak", lambda device, dtype: next(readings))
    meter = training.TrainingMeter(lambda features: features, "cpu", "fp32")
    hooks, args = meter.callback(), (None, None, None)

    def epoch(seconds):
        hooks.on_epoch_begin(*args)
        meter.train_s += seconds  # as if the epoch had trained that long
        hooks.on_epoch_end(*args)

    hooks.on_train_begin(*args)
    for seconds in (10, 10, training.PEAK_INTERVAL_S, 5):
        epoch(seconds)
    hooks.on_train_end(*args)
    assert meter.peak_readings == [1, 2, 3]  # before; once 30 s trained since; after the last 5 s
    hooks.on_train_end(*args)
    assert meter.peak_readings == [1, 2, 3]  # nothing trained since the last reading


def test_finetune_with_length_grouped_batches_is_deterministic_for_a_seed(tiny, data):
    (X, y), (X_val, _) = data["train"], data["validation"]

    def run():
        model = FineTune(tiny, num_train_epochs=1, learning_rate=5e-3, batch_size=16, group_by_length=True)
        return model.fit(X[:64], y[:64], runtime=CPU, labels=LABELS).predict_proba(X_val, runtime=CPU)

    assert np.array_equal(run(), run())


def test_pretrained_maps_head_labels_by_name(tiny_classifier_checkpoint):
    checkpoint = resolve_checkpoint(str(tiny_classifier_checkpoint))
    model = Pretrained(checkpoint).fit(runtime=CPU, labels=LABELS)
    texts = ["i feel happy", "so scared"]
    proba = model.predict_proba(texts, runtime=CPU)
    raw = class_probabilities(model.model_, model.tokenizer_, texts, 8, torch.device("cpu"))
    head = model.model_.config.id2label
    for column, name in enumerate(LABELS):
        head_index = next(i for i, n in head.items() if n == name)
        assert np.allclose(proba[:, column], raw[:, head_index])


def test_pretrained_head_with_other_labels_is_a_clear_error(tiny_classifier_checkpoint):
    checkpoint = resolve_checkpoint(str(tiny_classifier_checkpoint))
    with pytest.raises(
        LabelMismatch, match=r"head labels \[.*\] do not match the dataset's \['neg', 'pos'\]"
    ):
        Pretrained(checkpoint).fit(runtime=CPU, labels=["neg", "pos"])


def test_spec_builds_estimators_with_per_checkpoint_overrides(tiny):
    spec = approach_spec("finetune", per_checkpoint={tiny.id: {"learning_rate": 1e-4}}, num_train_epochs=3)
    assert (spec.id, spec.variant) == ("finetune-3", "3")
    built = spec.build(tiny)
    assert built.get_params()["learning_rate"] == 1e-4 and built.num_train_epochs == 3
    assert built.checkpoint is tiny and "checkpoint" not in built.hyperparameters()
    assert approach_spec("features-logreg", pooling="mean").id == "features-logreg-mean"
    assert isinstance(approach_spec("most-frequent").build(None), MostFrequent)
    with pytest.raises(ApproachError, match="unknown approach 'no-such-approach'; expected one of"):
        approach_spec("no-such-approach")
    with pytest.raises(ApproachError, match="approach 'finetune-0.1'.*unexpected keyword argument 'lr'"):
        approach_spec("finetune", lr=0.1).build(tiny)


def test_estimators_hold_only_hyperparameters_and_clone(tiny):
    """Run settings come from the runtime: no estimator takes a device, dtype, cache or labels."""
    for cls in (MostFrequent, FeatureLogReg, FineTune, Pretrained):
        params = cls().get_params()
        assert not {"device", "dtype", "cache", "extractors", "labels"} & set(params), cls
        model = cls(tiny) if "checkpoint" in params else cls()
        assert clone(model).get_params() == model.get_params()


class TfidfLogReg(Approach):
    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y, **context):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.model_ = make_pipeline(TfidfVectorizer(), LogisticRegression(C=self.C)).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X, **context):
        return self.model_.predict_proba(X)


def test_registered_approaches_are_used_like_built_in_ones(data):
    register_approach("tfidf-logreg-test", expensive=False)(TfidfLogReg)
    spec = approach_spec("tfidf-logreg-test", C=10.0)
    assert get_approach("tfidf-logreg-test") is TfidfLogReg and not spec.expensive
    (X, y), (X_val, y_val) = data["train"], data["validation"]
    model = spec.build(None).fit(X, y)
    assert (model.predict_proba(X_val).argmax(1) == y_val).mean() > 0.9  # the keyword task
    register_approach("tfidf-logreg-test")(TfidfLogReg)  # the same class again (a re-imported suite)
    with pytest.raises(ApproachError, match="'most-frequent' is already registered"):
        register_approach("most-frequent")(TfidfLogReg)
    with pytest.raises(HarnessError, match="must subclass harness.Approach"):
        register_approach("not-an-estimator")(dict)
