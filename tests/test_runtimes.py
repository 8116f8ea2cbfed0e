"""Deployment runtimes (harness/engine/deploy/) on tiny random models: export, parity, size, gates, skips,
records, the report section, the suite declaration and ``harness bench --runtimes``."""

import json
import types

import numpy as np
import pytest
import torch

from harness import Runtime
from harness.engine.approaches import approach_spec
from harness.engine.cache import Cache
from harness.engine.checkpoints import resolve_checkpoint
from harness.engine.data import load_local
from harness.engine.deploy import backends
from harness.engine.deploy.backends import Builder
from harness.engine.gates import RuntimeDeclarationError, check_runtime, runtime_failure_message
from harness.engine.deploy.graphs import GraphError, Pooled, graph_of
from harness.engine.deploy.measure import MeasureSettings, measure_runtimes
from harness.engine.deploy.pair import measure_pair
from harness.engine.evaluation import evaluate
from harness.report import render_suite
from harness.results import SuiteDocument, validate
from harness.results.runtimes import RuntimeRecord
from harness.results.suite import suite_documents

from .conftest import LABELS

ALL = list(backends.RUNTIMES)  # not imported by name: a module-level RUNTIMES declares a suite
SMALL = MeasureSettings(batch_size=8, speed_texts=16, latency_texts=4, rounds=1)


@pytest.fixture(scope="module")
def dataset(dataset_dir):
    return load_local(dataset_dir, LABELS)


@pytest.fixture(scope="module")
def evaluation(dataset, tiny_classifier_checkpoint):
    """The tiny published-head pair, evaluated (nothing to train: its runtimes are what is tested)."""
    checkpoint = resolve_checkpoint(str(tiny_classifier_checkpoint))
    return evaluate(
        "tiny", "tiny-emotion", dataset, checkpoint, approach_spec("pretrained"), Runtime(cache=Cache())
    )


@pytest.fixture(scope="module")
def records(evaluation, dataset):
    """Every runtime of the pair, measured once for the module (the ONNX export is the slow part)."""
    train = dataset["train"]
    measured = measure_pair(evaluation, ALL, list(train["text"]), np.asarray(train["label"]), settings=SMALL)
    return {r.runtime: r for r in measured}


def test_every_runtime_has_a_record_and_the_reference_comes_first(records):
    assert list(records)[0] == "torch-fp32" and set(records) == set(ALL)
    for name, record in records.items():
        assert record.status in ("passed", "skipped"), (name, record.reason)
        if record.measured:  # how busy the machine was while the runtimes were timed
            assert set(record.contention) == {"seen", "runqueue_wait_share", "threshold"}
        assert (record.checkpoint.endswith("tiny-bert-classifier0"), record.approach) == (True, "pretrained")


def test_onnx_fp32_agrees_with_torch_fp32_on_padded_batches(records, evaluation):
    """The export traced a padded batch: every prediction of the split (texts of 3 to 13 words, batched
    by length) matches torch-fp32, and the probabilities match to float precision."""
    onnx, reference = records["onnx-fp32"], records["torch-fp32"]
    assert onnx.agreement == 1.0 and onnx.max_proba_diff < 1e-5
    assert onnx.accuracy == reference.accuracy == pytest.approx(evaluation.metrics.accuracy)
    assert onnx.n_examples == len(evaluation.texts) and onnx.backend == "onnxruntime"


def test_int8_runtimes_are_smaller_and_close_to_the_reference(records):
    for int8, fp32 in (("torch-int8", "torch-fp32"), ("onnx-int8", "onnx-fp32")):
        assert records[int8].size_mb < records[fp32].size_mb
        assert records[int8].agreement >= 0.9 and records[int8].max_proba_diff < 0.1
        assert records[int8].n_parameters > 0


def test_measured_records_carry_speed_costs_and_default_gates(records):
    for name in ("torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8"):
        record = records[name]
        assert record.texts_per_s > 0 and set(record.latency_ms) == {"p50", "p95"}
        assert record.load_s > 0 and record.size_mb > 0 and record.peak_memory_mb >= 0
        assert record.rounds == SMALL.rounds and record.batch_size == SMALL.batch_size
    assert records["torch-fp32"].speedup == 1.0 and records["torch-fp32"].gates == []
    assert {g.metric for g in records["onnx-int8"].gates} == {"accuracy_drop", "agreement"}
    assert records["onnx-int8"].export_s > 0 and records["torch-int8"].export_s is None


def skipped_here(name: str, dtype: str) -> str:
    return f"{name}: {dtype} is not supported natively on cpu here"


def test_bf16_runtime_runs_where_native_and_says_why_not_elsewhere(cpu_profile, evaluation, dataset):
    """Under each simulated CPU, torch-bf16 and torch-fp16 run where that CPU runs the dtype natively and
    are skipped with the reason elsewhere."""
    from harness.engine.inference import dtype_supported

    train = dataset["train"]
    names = ["torch-bf16", "torch-fp16"]
    measured = measure_pair(evaluation, names, list(train["text"]), np.asarray(train["label"]), settings=SMALL)
    records = {r.runtime: r for r in measured}
    for name in names:
        dtype = backends.RUNTIMES[name].dtype
        assert dtype_supported(dtype, torch.device("cpu")) == cpu_profile.native(dtype)
        if cpu_profile.native(dtype):
            assert records[name].status == "passed" and records[name].agreement >= 0.9, records[name].reason
        else:
            assert (records[name].status, records[name].reason) == ("skipped", skipped_here(name, dtype))


def test_skip_reasons_name_what_is_missing(monkeypatch):
    monkeypatch.setattr(backends, "_installed", lambda module: module != "onnxscript")
    assert backends.RUNTIMES["onnx-int8"].unsupported(torch.device("cpu")) == (
        "onnx-int8 needs onnxscript: pip install 'harness[onnx]'"
    )
    monkeypatch.undo()
    cuda = torch.device("cuda")
    assert (
        backends.RUNTIMES["torch-int8"].unsupported(cuda)
        == "torch-int8: dynamic int8 quantization runs on CPU only"
    )
    assert (
        backends.RUNTIMES["onnx-int8"].unsupported(cuda)
        == "onnx-int8: ONNX Runtime's dynamic int8 kernels run on CPU only"
    )


def test_a_model_read_back_from_disk_has_the_fitted_models_fingerprint(evaluation, tmp_path):
    """The fingerprint keys exports and runtime predictions: a fine-tune's model and the same model read
    back from the cache in the next run (another path, loaded as fp32) must find the same entries."""
    graph = graph_of(evaluation.estimator, evaluation.label)
    graph.model.save_pretrained(tmp_path / "elsewhere")
    reloaded = type(graph.model).from_pretrained(tmp_path / "elsewhere", dtype=torch.float32)
    assert reloaded.config._name_or_path != graph.model.config._name_or_path
    assert type(graph).fingerprint(types.SimpleNamespace(**{**vars(graph), "model": reloaded})) == graph.fingerprint()
    with torch.no_grad():
        next(reloaded.parameters()).add_(1e-3)
    assert type(graph).fingerprint(types.SimpleNamespace(**{**vars(graph), "model": reloaded})) != graph.fingerprint()


def test_exported_artefacts_are_cached_by_fitted_weights(evaluation, tmp_path):
    """A second builder for the same fitted model reads the ONNX files back; other weights export anew."""
    graph = graph_of(evaluation.estimator, evaluation.label)
    runtime = Runtime(cache=Cache(tmp_path / "cache"))
    first = Builder(graph, torch.device("cpu"), tmp_path / "a", runtime).onnx_int8()
    again = Builder(graph, torch.device("cpu"), tmp_path / "b", runtime).onnx_int8()
    assert (first[2], again[2]) == (False, True) and again[1] == first[1]
    assert again[0].is_relative_to(tmp_path / "cache") and not (tmp_path / "b").exists()
    assert (again[0] / "model.onnx").read_bytes() == (first[0] / "model.onnx").read_bytes()
    changed = types.SimpleNamespace(**vars(graph))
    changed.output = "other"  # what the module returns is part of the fingerprint
    assert graph.fingerprint() != type(graph).fingerprint(changed)


def test_runtime_predictions_are_cached_by_weights_texts_and_instruction_set(evaluation, monkeypatch, tmp_path):
    """A warm run reads each runtime's predictions back (same scores and memory, marked); the speed
    rounds still run. Another CPU's instruction set (int8 and bf16 kernels round differently) predicts
    anew."""
    from harness.engine import inference

    graph = graph_of(evaluation.estimator, evaluation.label)
    runtime = Runtime(cache=Cache(tmp_path / "cache"))
    describe = {"suite": "tiny", "checkpoint": evaluation.checkpoint.id, "approach": "pretrained", "split": "validation"}

    def measured() -> dict[str, RuntimeRecord]:
        args = (evaluation.texts, evaluation.y_true, evaluation.labels, torch.device("cpu"), runtime, SMALL)
        return {r.runtime: r for r in measure_runtimes(graph, describe, ["onnx-int8"], *args)}

    first, again = measured(), measured()
    assert list(first) == ["torch-fp32", "onnx-int8"]
    assert not any(r.predictions_cached for r in first.values())
    assert all(r.predictions_cached for r in again.values())
    for name, record in first.items():
        kept = ("accuracy", "f1_weighted", "agreement", "max_proba_diff", "peak_memory_mb")
        assert {k: getattr(again[name], k) for k in kept} == {k: getattr(record, k) for k in kept}
        assert again[name].rounds == SMALL.rounds and again[name].texts_per_s > 0  # timed again
    monkeypatch.setattr(inference, "cpu_flags", lambda: {"avx2", "fma"})
    assert not any(r.predictions_cached for r in measured().values())


def test_a_runtime_that_fails_to_build_is_a_failed_record_and_the_others_are_measured(
    evaluation, monkeypatch
):
    def broken(self, spec):
        raise RuntimeError("exporter crashed\nsecond line")

    monkeypatch.setattr(Builder, "_build_onnx", broken)
    graph = graph_of(evaluation.estimator, evaluation.label)
    out = measure_runtimes(
        graph,
        {"suite": "s", "checkpoint": "c", "approach": "a"},
        ["torch-int8", "onnx-fp32"],
        evaluation.texts,
        evaluation.y_true,
        evaluation.labels,
        "cpu",
        None,
        SMALL,
    )
    by_name = {r.runtime: r for r in out}
    assert by_name["onnx-fp32"].status == "failed"
    assert by_name["onnx-fp32"].reason == "onnx-fp32: RuntimeError: exporter crashed"
    assert by_name["torch-int8"].measured and by_name["torch-fp32"].measured


def test_a_failing_speed_gate_is_measured_again_before_it_fails(evaluation):
    graph = graph_of(evaluation.estimator, evaluation.label)
    out = measure_runtimes(
        graph,
        {"suite": "s", "checkpoint": "c", "approach": "a"},
        ["torch-int8"],
        evaluation.texts,
        evaluation.y_true,
        evaluation.labels,
        "cpu",
        None,
        SMALL,
        gates={"torch-int8": {"speedup": 1000.0}},
    )
    int8 = out[1]
    assert int8.rounds == 2 * SMALL.rounds and out[0].rounds == 2 * SMALL.rounds
    assert int8.status == "failed"
    assert runtime_failure_message("pretrained · tiny", int8).startswith("pretrained · tiny · torch-int8 · speedup ")


def _record(**values) -> RuntimeRecord:
    base = {
        "suite": "s",
        "checkpoint": "c",
        "approach": "finetune",
        "runtime": "onnx-int8",
        "status": "passed",
        "accuracy_drop": 0.0,
        "agreement": 1.0,
        "max_proba_diff": 0.0,
        "speedup": 2.0,
        "latency_speedup": 1.5,
        "texts_per_s": 10.0,
    }
    return RuntimeRecord(**{**base, **values})


def test_gates_default_to_one_point_of_accuracy_and_97_percent_agreement():
    assert [(g.metric, g.passed) for g in check_runtime(_record(), {})] == [
        ("accuracy_drop", True),
        ("agreement", True),
    ]
    dropped = _record(accuracy_drop=0.011, agreement=0.969)
    assert [g.passed for g in check_runtime(dropped, {})] == [False, False]
    dropped.gates = check_runtime(dropped, {})
    assert runtime_failure_message("finetune · m", dropped) == (
        "finetune · m · onnx-int8 · accuracy_drop 0.011 > 0.01; agreement 0.969 < 0.97"
    )
    assert [g.passed for g in check_runtime(_record(accuracy_drop=0.011), {"accuracy_drop": 0.02})] == [True, True]
    speed = check_runtime(_record(), {"speedup": 2.5, "latency_speedup": 1.5, "max_proba_diff": 1e-4})
    assert {g.metric: g.passed for g in speed} == {
        "accuracy_drop": True,
        "agreement": True,
        "speedup": False,
        "latency_speedup": True,
        "max_proba_diff": True,
    }
    assert (
        check_runtime(_record(runtime="torch-fp32"), {"speedup": 2.0}) == []
    )  # the reference is not gated on itself


def _suite(**declarations):
    from harness.engine.suite import Suite

    module = types.ModuleType("test_suite")
    module.__dict__.update(declarations)
    return Suite(module)


def test_runtime_declarations_list_dict_and_one_line_errors():
    from harness.engine.suite import SuiteError

    specs = [
        approach_spec("most-frequent"),
        approach_spec("finetune"),
        approach_spec("features-logreg", pooling="cls"),
    ]
    as_list = _suite(APPROACHES=specs, RUNTIMES=["torch-fp32", "onnx-int8"])
    assert [(spec.id, name) for spec, name in as_list.runtime_cases()] == [
        ("finetune", "torch-fp32"), ("finetune", "onnx-int8"),
        ("features-logreg-cls", "torch-fp32"), ("features-logreg-cls", "onnx-int8"),
    ]
    assert as_list.runtimes_for(None, specs[0]) == []
    assert as_list.runtimes_for(None, specs[1]) == ["torch-fp32", "onnx-int8"]
    as_dict = _suite(APPROACHES=specs, RUNTIMES={"finetune": ["torch-int8"]})
    assert [(spec.id, name) for spec, name in as_dict.runtime_cases()] == [("finetune", "torch-int8")]
    assert as_dict.runtimes_for(None, specs[2]) == []
    assert _suite(APPROACHES=specs).runtime_cases() == []
    for declarations, message in (
        ({"RUNTIMES": ["onnx-int4"]}, "test_suite: RUNTIMES: unknown runtime 'onnx-int4'; expected some of "),
        (
            {"RUNTIMES": {"finetune-3": ["onnx-fp32"]}},
            "test_suite: RUNTIMES: key 'finetune-3' matches no declared pair",
        ),
        (
            {"RUNTIMES": {"most-frequent": ["onnx-fp32"]}},
            "test_suite: RUNTIMES: approach 'most-frequent' runs no transformer; runtimes need one",
        ),
        ({"RUNTIMES": "onnx-fp32"}, "test_suite: RUNTIMES: str; expected a list of runtime names"),
        (
            {"RUNTIME_GATES": {"onnx-int8": {"accuracy": 0.9}}},
            "test_suite: RUNTIME_GATES['onnx-int8']: unknown gate 'accuracy'",
        ),
    ):
        with pytest.raises((SuiteError, RuntimeDeclarationError)) as error:
            _suite(APPROACHES=specs, **declarations).check_runtimes()
        assert str(error.value).startswith(message)


def test_an_approach_without_a_transformer_has_no_graph():
    from harness.engine.approaches.most_frequent import MostFrequent

    with pytest.raises(GraphError, match=r"^most-frequent · x: approach 'most-frequent' runs no transformer"):
        graph_of(MostFrequent(), "most-frequent · x")


def test_features_graph_pools_like_the_extractor(tiny_checkpoint, dataset):
    """features-logreg's graph: the encoder with the approach's pooling, then its logistic regression."""
    from harness.engine.approaches.features import FeatureLogReg

    checkpoint = resolve_checkpoint(str(tiny_checkpoint))
    train, held_out = dataset["train"], dataset["validation"]
    estimator = FeatureLogReg(checkpoint, pooling="mean").fit(
        list(train["text"]), np.asarray(train["label"]), runtime=Runtime(), labels=LABELS
    )
    graph = graph_of(estimator, "features-logreg-mean · tiny")
    assert isinstance(graph.module(), Pooled) and graph.output == "pooled-mean"
    out = measure_runtimes(
        graph,
        {"suite": "s", "checkpoint": "c", "approach": "a"},
        ["torch-int8"],
        list(held_out["text"]),
        np.asarray(held_out["label"]),
        LABELS,
        "cpu",
        None,
        SMALL,
    )
    expected = estimator.predict_proba(list(held_out["text"]), runtime=Runtime()).argmax(axis=1)
    assert out[0].accuracy == pytest.approx(float((expected == np.asarray(held_out["label"])).mean()))


def test_finetune_graph_is_the_fitted_model(tiny_classifier_checkpoint):
    from harness.engine.approaches.finetune import FineTune
    from harness.engine.deploy.graphs import Logits

    checkpoint = resolve_checkpoint(str(tiny_classifier_checkpoint))
    estimator = FineTune(checkpoint)
    estimator.model_ = checkpoint.load_model(__import__("transformers").AutoModelForSequenceClassification)
    estimator.tokenizer_, estimator.max_length_ = checkpoint.load_tokenizer(), 64
    graph = graph_of(estimator, "finetune · tiny")
    assert graph.model is estimator.model_ and isinstance(graph.module(), Logits) and graph.max_length == 64
    assert np.allclose(graph.head(np.array([[0.0, 0.0]])), [[0.5, 0.5]])


def test_records_go_into_the_suite_document_and_the_report(records, tmp_path):
    data = [r.to_json() for r in records.values()]
    fragment = {
        "environment": {},
        "cache": {"root": None, "mode": "use", "hits": 0, "stores": 0},
        "suites": {"tiny": {"pairs": [], "datasets": {}, "performance": [], "runtimes": data}},
        "baseline_files": {},
    }
    doc = suite_documents([fragment, fragment], run_id="r", compare=lambda pairs: [])[0]  # two processes, one record per runtime
    assert [r.runtime for r in doc.runtimes] == list(records)
    again = validate(json.loads(json.dumps(doc.to_json())), SuiteDocument)
    assert again.runtimes == doc.runtimes

    markdown, html = (path.read_text(encoding="utf-8") for path in render_suite(again, tmp_path))
    assert "## Deployment runtimes" in markdown and "| torch-fp32 " in markdown and "| onnx-int8 " in markdown
    assert '<section id="runtimes">' in html and html.count('class="runtime-scatter"') == 1
    busy = {"seen": True, "runqueue_wait_share": 0.56, "threshold": 0.1}
    crowded = again.model_copy(update={"runtimes": [r.model_copy(update={"contention": busy}) for r in again.runtimes]})
    markdown, _ = (path.read_text(encoding="utf-8") for path in render_suite(crowded, tmp_path))
    assert "busy machine (56% of runnable time waiting for a CPU): the speed ratios are inflated" in markdown
    empty = again.model_copy(update={"runtimes": []})
    markdown, html = (path.read_text(encoding="utf-8") for path in render_suite(empty, tmp_path))
    assert "Deployment runtimes" not in markdown and "Deployment runtimes" not in html


def test_report_section_escapes_names_and_embeds_the_plot(records, tmp_path):
    hostile = [r.model_copy(update={"checkpoint": "<script>alert(1)</script>|x"}) for r in records.values()]
    skipped = {"status": "skipped", "reason": "<b>no</b>", "texts_per_s": None}
    hostile[-1] = hostile[-1].model_copy(update=skipped)
    doc = SuiteDocument(suite="tiny", run_id="r", environment={}, pairs=[], runtimes=hostile)
    markdown, html = (path.read_text(encoding="utf-8") for path in render_suite(doc, tmp_path))
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;no&lt;/b&gt;" in html
    assert html.count('class="runtime-scatter"') == 1
    assert "<script>" not in markdown and "\\|x" in markdown
    assert "- skipped: &lt;b&gt;no&lt;/b&gt;" in markdown


def test_bench_runtimes_writes_figures_and_ratios(
    cpu_profile, tiny_classifier_checkpoint, dataset_dir, tmp_path, capsys
):
    from harness.commands.bench import main
    from harness.commands.bench_runtimes import render
    from harness.results import read_json
    from harness.results.bench import BenchRuntimesDocument

    out = tmp_path / "bench.json"
    code = main(
        [
            "--runtimes",
            "--checkpoint",
            str(tiny_classifier_checkpoint),
            "--dataset",
            str(dataset_dir),
            "--approach",
            "pretrained",
            "--runtime",
            "torch-int8",
            "--runtime",
            "torch-fp16",
            "--batch-size",
            "8",
            "--limit",
            "12",
            "--device",
            "cpu",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["n_texts"] == 12 and doc["pairs"][0]["runtimes"]["torch-int8"]["record"]["n_examples"] == 12
    runtimes = doc["pairs"][0]["runtimes"]
    assert list(runtimes) == ["torch-fp32", "torch-int8", "torch-fp16"]
    int8 = runtimes["torch-int8"]
    for key in (
        "texts_per_s",
        "latency_ms_p50",
        "accuracy",
        "agreement",
        "size_mb",
        "texts_per_s_ratio",
        "latency_p50_ratio",
        "size_ratio",
    ):
        assert isinstance(int8[key], float), key
    assert runtimes["torch-fp32"]["texts_per_s_ratio"] == 1.0 and int8["size_ratio"] < 1
    if cpu_profile.native("fp16"):
        assert isinstance(runtimes["torch-fp16"]["texts_per_s_ratio"], float)
        assert runtimes["torch-fp16"]["record"]["dtype"] == "fp16"
    else:
        assert runtimes["torch-fp16"] == {"status": "skipped", "reason": skipped_here("torch-fp16", "fp16")}
    printed = capsys.readouterr().out
    typed = read_json(out, BenchRuntimesDocument)  # the file reads back into its model ...
    assert printed.endswith(render(typed) + "\n")  # ... holding exactly the figures that were printed
    assert typed.pairs[0].runtimes["torch-int8"].texts_per_s_ratio == int8["texts_per_s_ratio"]
    assert "torch-int8" in printed and f"{int8['texts_per_s_ratio']:.2f}" in printed


SUITE = """
import pytest
from harness import approach_spec

@pytest.fixture(scope="module")
def dataset(harness):
    return harness.dataset("tiny-emotion")

CHECKPOINTS = [{checkpoint!r}]
APPROACHES = [approach_spec("most-frequent"), approach_spec("pretrained")]
RUNTIMES = {{"pretrained": ["torch-int8", "torch-fp16", "onnx-fp32"]}}
RUNTIME_GATES = {{"onnx-fp32": {{"agreement": 0.999, "max_proba_diff": 1e-4}},
                 "torch-int8": {{"agreement": 1.01}}}}
RUNTIME_BATCH_SIZE, RUNTIME_SPEED_TEXTS, RUNTIME_LATENCY_TEXTS, RUNTIME_ROUNDS = 8, 16, 4, 1
SPEED_SETTINGS = []

def test_quality(evaluation, gate):
    gate(evaluation)
"""


@pytest.fixture(scope="module")
def onnx_imported():
    """The ONNX packages imported before any in-process pytester run: pytester unloads the modules a run
    imported, and loading onnx's extension module a second time aborts the process."""
    import importlib

    for name in backends.ONNX_PACKAGES:
        importlib.import_module(name)


def test_a_suite_declares_runtimes_and_gets_one_test_per_runtime(
    onnx_imported, cpu_profile, pytester, tiny_classifier_checkpoint, dataset_dir
):
    """RUNTIMES adds the harness's runtime test per (pair, runtime); a runtime that cannot run here is
    skipped with the reason, a failed gate fails with one line, and the records reach the suite file
    and its report."""
    fp16 = cpu_profile.native("fp16")
    pytester.makepyfile(test_declared=SUITE.format(checkpoint=str(tiny_classifier_checkpoint)))
    result = pytester.runpytest(
        "--benchmark", f"--data-dir={dataset_dir.parent}", "--report-dir=out", "--device=cpu", "-rs", "-v"
    )
    result.stdout.fnmatch_lines(
        [
            "*test_harness_runtime?pretrained-torch-int8-*FAILED*",
            f"*test_harness_runtime?pretrained-torch-fp16-*{'PASSED' if fp16 else 'SKIPPED'}*",
            "*test_harness_runtime?pretrained-onnx-fp32-*PASSED*",
            "*pretrained · tiny-bert-classifier* · torch-int8 · agreement 1 < 1.01*",
        ]
    )
    doc = json.loads((pytester.path / "out" / "declared.json").read_text())
    assert [(r["runtime"], r["status"]) for r in doc["runtimes"]] == [
        ("torch-fp32", "passed"),
        ("torch-int8", "failed"),
        ("torch-fp16", "passed" if fp16 else "skipped"),
        ("onnx-fp32", "passed"),
    ]
    pretrained = next(p for p in doc["pairs"] if p["approach"]["id"] == "pretrained")
    assert pretrained["status"] == "passed"  # a runtime's gate is the runtime's outcome, not the pair's
    markdown = (pytester.path / "out" / "declared.md").read_text(encoding="utf-8")
    assert "| torch-int8 " in markdown and "agreement 1 &lt; 1.01" in markdown
    skipped = skipped_here("torch-fp16", "fp16")
    if fp16:
        assert "| torch-fp16 " in markdown and skipped not in markdown
    else:
        result.stdout.fnmatch_lines([f"*{skipped}*"])
        assert f"- skipped: {skipped}" in markdown


def test_auto_dtype_is_bf16_where_the_cpu_runs_it_natively(cpu_profile):
    assert Runtime(dtype="auto").dtype == ("bf16" if cpu_profile.native("bf16") else "fp32")


def test_cuda_dtypes_follow_the_device(monkeypatch):
    """The CUDA branch of ``dtype_supported`` on a faked device: fp16 always, bf16 where the GPU has it."""
    from harness.engine.inference import dtype_supported

    cuda = torch.device("cuda")
    for bf16 in (True, False):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda bf16=bf16: bf16)
        assert [dtype_supported(d, cuda) for d in ("fp32", "fp16", "bf16")] == [True, True, bf16]


LOW_PRECISION = {10, 16}  # onnx.TensorProto.FLOAT16, BFLOAT16
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}


def onnx_low_precision(path) -> list[str]:
    """Every tensor, initializer and cast of an ONNX file that is fp16 or bf16 (an fp32 graph has none)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    found = [t.name for t in graph.initializer if t.data_type in LOW_PRECISION]
    found += [
        v.name
        for v in (*graph.input, *graph.output, *graph.value_info)
        if v.type.tensor_type.elem_type in LOW_PRECISION
    ]
    found += [
        node.name
        for node in graph.node
        if node.op_type == "Cast" and any(a.name == "to" and a.i in LOW_PRECISION for a in node.attribute)
    ]
    return found


def linear_output_dtypes(module: torch.nn.Module, ids: np.ndarray, mask: np.ndarray, predictor) -> set:
    """The dtypes the module's linear layers (float or dynamically quantized) compute in, over one batch."""
    seen: set = set()
    hooks = [
        layer.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
        for layer in module.modules()
        if type(layer).__name__ == "Linear"
    ]
    try:
        predictor(ids, mask)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def test_a_pair_trained_in_bf16_deploys_every_runtime_in_its_own_dtype(monkeypatch, dataset, tiny_checkpoint):
    """The training dtype is a run setting, never part of the fitted model: a pair fine-tuned with bf16
    mixed precision (real autocast where this CPU runs bf16 natively, else as on an AMX CPU: torch computes
    bf16 on any CPU, slowly) deploys every runtime, each computing in its own dtype, and exports an fp32
    ONNX graph that ONNX Runtime runs (the Xeon's bf16 pair exported bf16 MatMuls ORT has no kernel for)."""
    from harness.engine.inference import dtype_supported, encode, pad, pad_token_id

    from .cpu_profiles import PROFILES

    cpu = torch.device("cpu")
    if not dtype_supported("bf16", cpu):
        PROFILES["amx-fp16"].apply(monkeypatch)
    runtime = Runtime(dtype="bf16", cache=Cache())
    spec = approach_spec("finetune", num_train_epochs=1, learning_rate=1e-3, batch_size=32)
    evaluation = evaluate(
        "tiny", "tiny-emotion", dataset, resolve_checkpoint(str(tiny_checkpoint)), spec, runtime
    )
    graph = graph_of(evaluation.estimator, evaluation.label)
    encoded = encode(graph.tokenizer, evaluation.texts[:8], graph.max_length)
    ids, mask = (t.numpy() for t in pad(encoded.input_ids, pad_token_id(graph.tokenizer)))
    fitted = graph.module()  # the fitted model runs fp32 outside autocast: no wrapper of training is left
    assert {p.dtype for p in fitted.parameters()} == {torch.float32}
    with torch.inference_mode():
        run = lambda i, m: fitted(torch.from_numpy(i), torch.from_numpy(m))  # noqa: E731
        assert linear_output_dtypes(fitted, ids, mask, run) == {torch.float32}
    runnable = [name for name, spec in backends.RUNTIMES.items() if spec.unsupported(cpu) is None]
    assert {"torch-fp32", "torch-bf16", "torch-int8", "onnx-fp32", "onnx-int8"} <= set(runnable)
    with backends.temporary_workdir() as workdir:
        builder = Builder(graph, cpu, workdir, runtime)
        for name in runnable:
            spec = backends.RUNTIMES[name]
            built = builder.build(spec)
            if spec.backend == "torch":
                assert linear_output_dtypes(built.module, ids, mask, built.predictor) == {
                    TORCH_DTYPES[spec.dtype]
                }, name
            else:
                built.predictor(ids, mask)  # ONNX Runtime has a kernel for every node
        for directory, _, _ in (builder.onnx_fp32(), builder.onnx_int8()):
            assert onnx_low_precision(directory / "model.onnx") == []

    train = dataset["train"]
    records = measure_pair(
        evaluation, runnable, list(train["text"]), np.asarray(train["label"]), settings=SMALL
    )
    for record in records:
        assert record.measured and record.accuracy is not None, (record.runtime, record.reason)
    by_name = {r.runtime: r for r in records}
    assert by_name["onnx-fp32"].agreement == 1.0 and by_name["onnx-fp32"].max_proba_diff < 1e-5


def test_runtime_timing_rounds_stop_at_the_time_limit_and_say_so(evaluation, dataset):
    train = dataset["train"]
    settings = MeasureSettings(batch_size=8, speed_texts=16, latency_texts=4, rounds=3, time_limit=1e-6)
    texts, y = list(train["text"]), np.asarray(train["label"])
    records = measure_pair(evaluation, ["torch-int8"], texts, y, settings=settings)
    for record in records:
        assert record.rounds == 1 and record.texts_per_s > 0
        assert record.capped == "time limit of 1e-06 s reached: timing rounds cut short"


def test_runtime_warm_up_runs_each_latency_length_once(evaluation, monkeypatch):
    """The untimed round warms batch-1 latency with one text of each token length the timed rounds run
    (not all of them): every shape warm, at a fraction of the cost."""
    from harness.engine.deploy import measure
    from harness.engine.inference import encode

    graph = graph_of(evaluation.estimator, evaluation.label)
    calls, latencies = [], measure.latencies_ms
    monkeypatch.setattr(measure, "latencies_ms", lambda built, g, texts: calls.append(list(texts)) or latencies(built, g, texts))
    settings = MeasureSettings(batch_size=8, speed_texts=16, latency_texts=12, rounds=1)
    describe = {"suite": "s", "checkpoint": "c", "approach": "a"}
    measure_runtimes(graph, describe, [], evaluation.texts, evaluation.y_true, evaluation.labels, "cpu", None, settings)
    warm, timed = calls
    lengths = list(encode(graph.tokenizer, timed, graph.max_length).lengths)
    assert len(timed) == 12 and len(warm) == len(set(lengths)) < 12
    assert sorted(encode(graph.tokenizer, warm, graph.max_length).lengths) == sorted(set(lengths))


def test_int8_weights_get_a_scale_per_channel_and_listed_layers_stay_fp32(evaluation, tmp_path):
    """torch and ONNX Runtime quantize the same layers: the ``fp32_layers`` patterns match module paths,
    which the ONNX exporter records on every node."""
    import onnx
    from torch.ao.nn.quantized import dynamic

    graph = graph_of(evaluation.estimator, evaluation.label)
    quantization = {**backends.QUANTIZATION, "per_channel": True, "fp32_layers": ["*.layer.1.output.dense"]}
    module = backends.quantize_linear(graph.module(), quantization)
    layers = module.model.bert.encoder.layer
    assert type(layers[1].output.dense) is torch.nn.Linear and isinstance(layers[0].output.dense, dynamic.Linear)
    assert layers[0].output.dense.weight().qscheme() == torch.per_channel_affine
    assert isinstance(module.model.classifier, dynamic.Linear) and isinstance(graph.model.classifier, torch.nn.Linear)

    backends.export_onnx(graph, graph.model, tmp_path / "fp32.onnx")
    kept = backends.fp32_nodes(tmp_path / "fp32.onnx", quantization)
    backends.quantize_onnx(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", quantization)
    nodes = onnx.load(str(tmp_path / "int8.onnx")).graph.node
    assert [n.op_type for n in nodes if n.name in kept and n.op_type.startswith("MatMul")] == ["MatMul"]
    everything = {**quantization, "fp32_layers": []}
    assert backends.fp32_nodes(tmp_path / "fp32.onnx", everything) == []
    backends.quantize_onnx(tmp_path / "fp32.onnx", tmp_path / "all.onnx", everything)
    all_nodes = onnx.load(str(tmp_path / "all.onnx")).graph.node
    integer = [sum(n.op_type == "MatMulInteger" for n in graph) for graph in (nodes, all_nodes)]
    assert integer[0] == integer[1] - 1 and integer[0] >= 2 * 6 - 1  # 6 weight matrices per layer
