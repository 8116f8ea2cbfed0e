"""A suite module read in one place (harness.engine.suite.Suite): misspelt declarations, keys that
resolve alike, ids that tell specs apart, and the one-line errors pytest shows at collection."""

import types

import pytest

from harness import approach_spec
from harness.engine.suite import Suite, SuiteError

FINETUNES = [approach_spec("most-frequent"), approach_spec("finetune", learning_rate=1e-4)]


def _suite(**declarations) -> Suite:
    module = types.ModuleType("test_declared")
    module.__dict__.update(declarations)
    return Suite(module)


def _error(**declarations) -> str:
    with pytest.raises(SuiteError) as error:
        _suite(**declarations)
    return str(error.value)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("GATE", "did you mean GATES?"),
        ("SPEED_SETTING", "did you mean SPEED_SETTINGS?"),
        ("CURVE_GATE", "did you mean CURVE_GATES?"),
        ("RUNTIME_THREADS", "expected one of ['RUNTIME_GATES', 'RUNTIME_BATCH_SIZE'"),
    ],
)
def test_a_misspelt_declaration_is_a_one_line_error(name, expected):
    message = _error(APPROACHES=FINETUNES, **{name: {}})
    assert message.startswith(f"test_declared: {name} is not a suite declaration; ")
    assert expected in message and "\n" not in message


def test_a_suite_may_keep_its_own_constants():
    suite = _suite(MINILM="sentence-transformers/all-MiniLM-L6-v2", LABELS=["a", "b"], CHECKPOINTS=["x"])
    assert suite.checkpoints == ("x",)


def test_every_keyed_declaration_resolves_by_name_id_or_pair_and_the_most_specific_wins():
    finetune = FINETUNES[1]
    suite = _suite(
        CHECKPOINTS=["a", "b"],
        APPROACHES=FINETUNES,
        GATES={
            "finetune": {"accuracy": 0.5, "f1_weighted": 0.5}, ("b", "finetune-0.0001"): {"accuracy": 0.9}
        },
        RUNTIMES={"finetune": ["onnx-fp32"], ("b", "finetune-0.0001"): ["torch-int8"]},
        RUNTIME_GATES={"onnx-fp32": {"agreement": 0.99}, "finetune-0.0001": {"onnx-fp32": {"speedup": 1.5}}},
        SHOTS=[2],
        CURVE_GATES={"finetune": {2: {"accuracy": 0.3}}, ("a", "finetune-0.0001"): {2: {"f1_macro": 0.1}}},
    )
    assert finetune.id == "finetune-0.0001"
    assert suite.gates_for("a", finetune) == {"accuracy": 0.5, "f1_weighted": 0.5}
    assert suite.gates_for("b", finetune) == {"accuracy": 0.9, "f1_weighted": 0.5}
    assert suite.gates_for("a", FINETUNES[0]) == {}
    assert suite.runtimes_for("a", finetune) == ["onnx-fp32"]  # "finetune" covers finetune-0.0001
    assert suite.runtimes_for("b", finetune) == ["torch-int8"]
    assert suite.runtimes_for("a", FINETUNES[0]) == []  # most-frequent runs no transformer
    assert [(spec.id, name) for spec, name in suite.runtime_cases()] == [
        ("finetune-0.0001", "onnx-fp32"), ("finetune-0.0001", "torch-int8")
    ]
    assert suite.runtime_gates_for("a", finetune) == {"onnx-fp32": {"agreement": 0.99, "speedup": 1.5}}
    assert suite.runtime_gates_for("a", FINETUNES[0]) == {"onnx-fp32": {"agreement": 0.99}}
    assert suite.curve_gates_for("a", finetune) == {2: {"accuracy": 0.3, "f1_macro": 0.1}}
    assert suite.curve_gates_for("b", finetune) == {2: {"accuracy": 0.3}}


@pytest.mark.parametrize("table", ["GATES", "RUNTIMES", "RUNTIME_GATES", "CURVE_GATES"])
def test_a_key_that_matches_no_declared_pair_is_an_error(table):
    message = _error(CHECKPOINTS=["a"], APPROACHES=FINETUNES, SHOTS=[2], **{table: {"finetune-2e-05": {}}})
    assert message.startswith(f"test_declared: {table}: key 'finetune-2e-05' matches no declared pair; ")
    assert "'finetune-0.0001'" in message
    unknown_checkpoint = _error(CHECKPOINTS=["a"], APPROACHES=FINETUNES, GATES={("b", "finetune"): {}})
    assert "key ('b', 'finetune') matches no declared pair" in unknown_checkpoint


def test_a_gate_on_an_unknown_metric_is_an_error():
    message = _error(APPROACHES=FINETUNES, GATES={"finetune": {"acuracy": 0.9}})
    assert message.startswith("test_declared: GATES['finetune']: unknown metric(s) ['acuracy']")


def test_time_limits_and_missing_checkpoints_are_read_through_the_suite():
    default = _suite(CHECKPOINTS=["x"])
    assert (default.speed_settings().time_limit, default.measure_settings().time_limit) == (60.0, 120.0)
    assert default.allow_missing_checkpoints is False
    suite = _suite(
        CHECKPOINTS=["x"], SPEED_TIME_LIMIT=None, RUNTIME_TIME_LIMIT=5, ALLOW_MISSING_CHECKPOINTS=True
    )
    assert (suite.speed_settings().time_limit, suite.measure_settings().time_limit) == (None, 5)
    assert suite.allow_missing_checkpoints is True
    assert _error(CHECKPOINTS=["x"], SPEED_TIME_LIMIT=0).startswith(
        "test_declared: SPEED_TIME_LIMIT: 0; expected"
    )
    assert _error(CHECKPOINTS=["x"], ALLOW_MISSING_CHECKPOINTS="yes").startswith(
        "test_declared: ALLOW_MISSING_CHECKPOINTS: 'yes'; expected True or False"
    )
    assert "did you mean RUNTIME_TIME_LIMIT?" in _error(CHECKPOINTS=["x"], RUNTIME_TIME_LIMITS=5)


def test_specs_that_differ_only_in_their_runtime_dtype_get_two_ids():
    fp32, bf16 = approach_spec("finetune"), approach_spec("finetune", runtime={"dtype": "bf16"})
    assert (fp32.id, bf16.id) == ("finetune", "finetune-bf16")
    assert approach_spec("finetune", runtime={"batch_size": 8}).id == "finetune"  # does not change results
    assert [spec.id for spec in _suite(APPROACHES=[fp32, bf16]).approaches] == ["finetune", "finetune-bf16"]


def test_two_specs_with_one_id_are_an_error_naming_both():
    mean = approach_spec("features-logreg", pooling="mean")
    cls_named_mean = approach_spec("features-logreg", pooling="cls", variant="mean")
    assert _error(APPROACHES=[mean, cls_named_mean]) == (
        "test_declared: APPROACHES: approach_spec('features-logreg', pooling='mean') and "
        "approach_spec('features-logreg', pooling='cls', variant='mean') have the same id "
        "'features-logreg-mean'; give one of them another variant="
    )


TYPO_SUITE = """
from harness import approach_spec

DATASET = "tiny-emotion"
CHECKPOINTS = ["{checkpoint}"]
APPROACHES = [approach_spec("most-frequent")]
GATE = {{"most-frequent": {{"accuracy": 0.99}}}}
SPEED_SETTING = []

def test_quality(evaluation, gate):
    gate(evaluation)
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_the_typo_suite_fails_at_collection_with_one_line(pytester, tiny_checkpoint, dataset_dir, workers):
    if workers:  # each worker collects; the controller stops the run with the workers' line
        pytest.importorskip("xdist")
    pytester.makepyfile(test_typo=TYPO_SUITE.format(checkpoint=tiny_checkpoint))
    result = pytester.runpytest(f"--data-dir={dataset_dir.parent}", "--report-dir=out", *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    suite = pytester.path / "test_typo.py"
    assert errors == [f"ERROR: {suite}: GATE is not a suite declaration; did you mean GATES?"]


RUNTIME_SUITE = """
from harness import approach_spec

DATASET = "tiny-emotion"
CHECKPOINTS = ["{checkpoint}"]
APPROACHES = [approach_spec("most-frequent"), {specs}]
RUNTIMES = {{"finetune": ["torch-fp32", "onnx-fp32"]}}
SPEED_SETTINGS = []

def test_quality(evaluation, gate):
    gate(evaluation)
"""


def test_runtimes_keyed_by_name_cover_every_spec_of_it_at_collection(pytester):
    specs = (
        'approach_spec("finetune", learning_rate=1e-4), approach_spec("finetune", runtime={"dtype": "bf16"})'
    )
    pytester.makepyfile(test_declared=RUNTIME_SUITE.format(checkpoint="org/tiny", specs=specs))
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    collected = [
        line.split("::")[-1].replace("org/tiny-", "").replace("-org/tiny", "")
        for line in result.stdout.lines if "::" in line
    ]
    assert collected == [
        "test_quality[most-frequent]", "test_quality[finetune-0.0001]", "test_quality[finetune-bf16]",
        "test_harness_runtime[finetune-0.0001-torch-fp32]", "test_harness_runtime[finetune-0.0001-onnx-fp32]",
        "test_harness_runtime[finetune-bf16-torch-fp32]", "test_harness_runtime[finetune-bf16-onnx-fp32]",
    ]


def test_duplicate_ids_fail_at_collection_naming_both_specs(pytester):
    specs = 'approach_spec("finetune")'
    source = RUNTIME_SUITE.format(checkpoint="org/tiny", specs=specs).replace(
        'approach_spec("most-frequent"), ', 'approach_spec("features-logreg", pooling="mean"), '
        'approach_spec("features-logreg", pooling="cls", variant="mean"), '
    )
    pytester.makepyfile(test_declared=source)
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: *test_declared.py: APPROACHES: approach_spec('features-logreg', pooling='mean') and "
        "approach_spec('features-logreg', pooling='cls', variant='mean') have the same id "
        "'features-logreg-mean'*"
    ])


@pytest.mark.parametrize(
    "declarations, expected",
    [
        ({"SPEED_TASKS": ["inferense"]}, "SPEED_TASKS: unknown task 'inferense'"),
        ({"SPEED_TASKS": "inference"}, "SPEED_TASKS: 'inference'"),
        ({"SPEED_SETTINGS": [("cpu", "bf61")]}, "SPEED_SETTINGS: dtype 'bf61' in ('cpu', 'bf61') is not one of"),
        ({"SPEED_SETTINGS": [("cdua", "fp16")]}, "SPEED_SETTINGS: device 'cdua' in ('cdua', 'fp16') is not cpu"),
        ({"SPEED_SETTINGS": ["cpu"]}, "SPEED_SETTINGS: 'cpu' is not a (device, dtype) pair"),
        ({"SPEED_SETTINGS": ("cpu", "fp32")}, "SPEED_SETTINGS: 'cpu' is not a (device, dtype) pair"),
    ],
)
def test_a_speed_setting_that_cannot_run_is_a_one_line_error_not_a_skip(declarations, expected):
    """A typo in a speed setting used to be a traceback at test time, or a silent skip on a CPU machine
    (("cdua", ...) read as an absent GPU): now the suite is refused at collection."""
    message = _error(CHECKPOINTS=["x"], **declarations)
    assert message.startswith("test_declared: ") and expected in message and "\n" not in message


def test_an_auto_speed_setting_resolves_as_a_pairs_auto_runtime(cpu_profile):
    from harness.engine.runtime import Runtime

    suite = _suite(CHECKPOINTS=["x"], SPEED_TASKS=["inference"], SPEED_SETTINGS=[("cpu", "auto"), ("cuda", "auto")])
    expected = "bf16" if cpu_profile.native("bf16") else "fp32"
    assert Runtime(dtype="auto").dtype == expected
    cases = suite.speed_settings().cases()
    assert cases[0] == ("inference", "cpu", expected)
    import torch

    if not torch.cuda.is_available():  # an absent device keeps "auto": its test is skipped with the reason
        assert cases[1] == ("inference", "cuda", "auto")


def test_settings_that_resolve_alike_are_timed_once(cpu_profile):
    suite = _suite(CHECKPOINTS=["x"], SPEED_TASKS=["inference"], SPEED_SETTINGS=[("cpu", "fp32"), ("cpu", "auto")])
    cases = suite.speed_settings().cases()
    assert cases == (
        [("inference", "cpu", "fp32"), ("inference", "cpu", "bf16")] if cpu_profile.native("bf16")
        else [("inference", "cpu", "fp32")]
    )
