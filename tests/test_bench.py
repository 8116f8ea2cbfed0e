import contextlib
import io
import json

import pytest

from harness.commands import bench
from harness.errors import UsageError
from harness.results import BenchDocument, ResultsError, read_json

METHOD_KEYS = {"texts_per_s", "ratio_vs_seed", "max_abs_diff", "achieved_gflops", "peak_fraction"}


@pytest.fixture(scope="module")
def written(tiny_checkpoint, dataset_dir, tmp_path_factory):
    """The ``--json`` file of a run with every option, and what the run printed."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    argv = ["--checkpoint", str(tiny_checkpoint), "--dataset", str(dataset_dir), "--limit", "24"]
    argv += ["--batch-size", "8", "--sweep", "4", "--accuracy", "--json", str(out)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert bench.main(argv) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def report(written):
    return json.loads(written[0].read_text())


def test_the_json_reads_back_into_the_model_with_the_printed_figures(written):
    path, printed = written
    doc = read_json(path, BenchDocument)
    assert (doc.kind, doc.schema_version) == ("harness.bench", 1)
    assert printed == bench.render(doc) + "\n"  # the file holds exactly the figures that were printed
    lines = printed.splitlines()
    for name, method in doc.methods.items():
        (row,) = [line.split() for line in lines if line.startswith(f"{name} ")]
        assert row[1:3] == [f"{method.texts_per_s:.1f}", f"{method.ratio_vs_seed:.2f}"]
    assert f"fp32 {doc.accuracy['fp32']:.4f}" in printed
    assert [r.batch_size for r in doc.sweep if r.device == "cpu" and r.dtype == "fp32"] == [1, 8, 32, 64, 128]
    assert all(r.tokenize_ms > 0 and r.peak_rss_mb > 0 for r in doc.sweep)


def test_json_has_every_method_with_its_figures(report):
    methods = report["methods"]
    assert {"seed", "pipeline", "harness-fp32"} <= set(methods)
    assert "sentence-transformers" in methods  # installed in the test environment
    for figures in methods.values():
        assert METHOD_KEYS <= set(figures)
        assert figures["texts_per_s"] > 0
        assert figures["achieved_gflops"] == pytest.approx(report["gflop"] * figures["texts_per_s"] / 24)
    assert methods["seed"]["ratio_vs_seed"] == 1.0
    assert report["n_texts"] == 24
    assert set(report["gemm_peak_gflops"]) == {figures["dtype"] for figures in methods.values()}


def test_every_way_computes_the_seeds_features(report):
    methods = report["methods"]
    assert methods["harness-fp32"]["max_abs_diff"] < 1e-4
    assert methods["pipeline"]["max_abs_diff"] < 1e-4
    assert methods["sentence-transformers"]["max_abs_diff"] < 1e-4  # like with like: normalized mean
    if "harness-bf16" in methods:
        assert methods["harness-bf16"]["max_abs_diff"] < 0.1


def test_sweep_and_accuracy_are_reported(report):
    sweep = report["sweep"]
    cpu_fp32 = [r["batch_size"] for r in sweep if (r["device"], r["dtype"]) == ("cpu", "fp32")]
    assert cpu_fp32 == [1, 8, 32, 64, 128]
    assert all(r["n_texts"] == 4 and r["task"] == "extraction" for r in sweep)
    assert set(report["accuracy"]) <= {"fp32", "fp16", "bf16"} and "fp32" in report["accuracy"]


def test_accuracy_is_logistic_regression_on_mean_pooled_features(report, tiny_checkpoint, dataset_dir):
    """Recomputed here without the harness: transformers' hidden states, masked mean, scikit-learn."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel, AutoTokenizer

    from harness.engine.data import load_dataset

    dataset = load_dataset(str(dataset_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_checkpoint))
    model = AutoModel.from_pretrained(str(tiny_checkpoint)).eval()

    def features(split):
        part = dataset[split].select(range(24))
        batch = tokenizer(list(part["text"]), padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return ((hidden * mask).sum(1) / mask.sum(1)).numpy(), np.asarray(part["label"])

    (train, train_y), (held_out, held_out_y) = features("train"), features("validation")
    expected = (LogisticRegression(max_iter=3000).fit(train, train_y).predict(held_out) == held_out_y).mean()
    assert report["accuracy"]["fp32"] == pytest.approx(expected, abs=1 / 24)  # one flip at most


def test_table_is_printed(tiny_checkpoint, dataset_dir, capsys):
    assert (
        bench.main(["--checkpoint", str(tiny_checkpoint), "--dataset", str(dataset_dir), "--limit", "8"]) == 0
    )
    out = capsys.readouterr().out
    assert "texts/s" in out and "× seed" in out
    for method in ("seed", "pipeline", "harness-fp32"):
        assert method in out


def _one_line(capsys, printed_nothing: bool = False) -> str:
    """What a failed command printed: its message once on stderr (beside progress bars), no traceback;
    with ``printed_nothing``, no table on stdout either (it stopped before measuring)."""
    captured = capsys.readouterr()
    assert not printed_nothing or captured.out == "", captured.out
    lines = [line for line in captured.err.splitlines() if line.startswith("harness ")]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_unresolvable_checkpoint_exits_with_the_reason(dataset_dir, capsys):
    assert bench.main(["--checkpoint", "no/such-model", "--dataset", str(dataset_dir)]) == 2
    assert _one_line(capsys).startswith("harness bench: checkpoint 'no/such-model' cannot be resolved")


def test_missing_split_exits_naming_it(tiny_checkpoint, dataset_dir, capsys):
    assert bench.main(["--checkpoint", str(tiny_checkpoint), "--dataset", str(dataset_dir), "--split", "dev"]) == 2
    assert "no split 'dev'" in _one_line(capsys)


def _without_weights(checkpoint, tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for path in checkpoint.iterdir():
        if path.is_file() and not path.name.endswith((".safetensors", ".bin")):
            (folder / path.name).write_bytes(path.read_bytes())
    return ["--checkpoint", str(folder)]


def _linked_split(dataset_dir, tmp_path):
    folder = tmp_path / "linked"
    folder.mkdir()
    for path in dataset_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "train.txt").unlink()
    (folder / "train.txt").symlink_to(dataset_dir / "train.txt")
    return ["--dataset", str(folder)]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("cuda", "--device cuda: CUDA is not available on this machine"),
        ("mps", "--device mps: the MPS backend is not available on this machine"),
        ("xpu", "--device xpu: expected auto, cpu, cuda, cuda:N or mps"),
        ("no weights", "expected complete weights"),
        ("linked split", "train.txt: a link to a file outside the dataset folder"),
        ("limit 0", "argument --limit: expected a positive integer, got '0'"),
        ("batch size 0", "argument --batch-size: expected a positive integer, got '0'"),
        ("json under a file", "train.txt is not a directory"),
        ("json a folder", "is a directory; expected a file path"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(case, expected, tiny_checkpoint, dataset_dir, tmp_path, capsys):
    """Each of these ended in a traceback (exit 1) before; now the shared error path: one line, exit 2."""
    import torch

    if case == "cuda" and torch.cuda.is_available() or case == "mps" and torch.backends.mps.is_available():
        pytest.skip(f"{case} is available here")
    argv = ["--checkpoint", str(tiny_checkpoint), "--dataset", str(dataset_dir), "--limit", "8"]
    argv += {
        "cuda": ["--device", "cuda"],
        "mps": ["--device", "mps"],
        "xpu": ["--device", "xpu"],
        "no weights": _without_weights(tiny_checkpoint, tmp_path),
        "linked split": _linked_split(dataset_dir, tmp_path),
        "limit 0": ["--limit", "0"],
        "batch size 0": ["--batch-size", "0"],
        "json under a file": ["--json", str(dataset_dir / "train.txt" / "bench.json")],
        "json a folder": ["--json", str(tmp_path)],
    }[case]
    try:
        code = bench.main(argv)
    except SystemExit as e:  # argparse: a usage error
        code = e.code
    assert code == 2
    line = _one_line(capsys, printed_nothing=case.startswith("json"))
    assert line.startswith("harness bench: ") and expected in line


def test_a_json_file_that_cannot_be_written_after_measuring_is_one_line(written, tmp_path):
    """The folder went away (or became a file) while the bench ran: the write is the command's one line."""
    doc = read_json(written[0], BenchDocument)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    expected = r"^--json .*blocked/bench\.json: cannot be written \(Not a directory\)$"
    with pytest.raises(UsageError, match=expected):
        bench.write_document(blocked / "bench.json", doc)
    assert blocked.read_text() == "a file where the folder should be"


DAMAGE = {
    "string number": (
        lambda d: d["methods"]["seed"].update(texts_per_s="12"),
        'methods.seed.texts_per_s: expected a number, got "12"',
    ),
    "dtype without a peak": (
        lambda d: d["methods"]["seed"].update(dtype="int4"),
        "methods.seed.dtype: no GEMM peak for 'int4' in gemm_peak_gflops",
    ),
    "accuracy above 1": (
        lambda d: d["accuracy"].update(fp32=1.5),
        "accuracy.fp32: expected a number at most 1.0, got 1.5",
    ),
    "another kind": (
        lambda d: d.update(kind="harness.suite"),
        "kind: expected 'harness.bench', got \"harness.suite\"",
    ),
}


@pytest.mark.parametrize("damage, expected", DAMAGE.values(), ids=list(DAMAGE))
def test_a_damaged_bench_file_is_one_line_naming_the_field(written, tmp_path, damage, expected):
    doc = json.loads(written[0].read_text())
    damage(doc)
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError) as raised:
        read_json(path, BenchDocument)
    assert str(raised.value) == f"{path}: {expected}"


def test_gpu_check_reads_the_bench_file_through_its_model(written, tmp_path):
    from harness.commands.gpu_check import bench_figures

    doc = read_json(written[0], BenchDocument)
    figures = bench_figures(written[0])
    assert figures["texts_per_s"] == {name: round(m.texts_per_s, 1) for name, m in doc.methods.items()}
    assert figures["n_texts"] == 24 and "cpu fp32" in figures["sweep_best_texts_per_s"]
    damaged = tmp_path / "bench.json"
    damaged.write_text(written[0].read_text().replace('"kind": "harness.bench"', '"kind": "x"'))
    assert bench_figures(damaged) == {"results": f"{damaged}: kind: expected 'harness.bench', got \"x\""}
    assert bench_figures(tmp_path / "missing.json") == {}
