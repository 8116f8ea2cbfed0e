"""``harness export`` and ``harness predict`` on a generated suite: tiny BERT, tiny dataset, a real cache."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from harness import commands as cli
from harness.commands import export, predict

SUITE = """
from harness import approach_spec

DATASET = {dataset!r}
CHECKPOINTS = [{checkpoint!r}]
APPROACHES = [
    approach_spec("most-frequent"),
    approach_spec("features-logreg", pooling="mean"),
    approach_spec("finetune", learning_rate=3e-3, num_train_epochs=3, batch_size=32),
]
"""
TEXTS = ["i am so happy and glad today", "i feel furious and mad"]


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory, tiny_checkpoint, dataset_dir):
    path = tmp_path_factory.mktemp("suites") / "test_tiny.py"
    path.write_text(SUITE.format(dataset=str(dataset_dir), checkpoint=str(tiny_checkpoint)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("commands-cache")


def pair_args(suite_file, cache_dir, approach):
    return [str(suite_file), "--approach", approach, "--cache-dir", str(cache_dir)]


@pytest.fixture(scope="module")
def finetune_dir(suite_file, cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "finetune"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):  # the fine-tuning runs here: Trainer logs as it goes
        assert export.main([*pair_args(suite_file, cache_dir, "finetune"), "--out", str(out)]) == 0
    assert stdout.getvalue().startswith(f"wrote {out} (") and stdout.getvalue().count("\n") == 1
    return out


@pytest.fixture(scope="module")
def features_dir(suite_file, cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "features"
    assert export.main([*pair_args(suite_file, cache_dir, "features-logreg-mean"), "--out", str(out)]) == 0
    return out


def manifest(directory) -> dict:
    return json.loads((directory / export.MANIFEST).read_text(encoding="utf-8"))


def validation(dataset_dir) -> tuple[list[str], list[str]]:
    lines = (dataset_dir / "validation.txt").read_text(encoding="utf-8").splitlines()
    texts, labels = zip(*(line.rsplit(";", 1) for line in lines), strict=True)
    return list(texts), list(labels)


def predicted(argv, capsys, stdin=None) -> list[dict]:
    assert predict.main([*argv, "--json"], stdin=stdin) == 0
    return json.loads(capsys.readouterr().out)


def test_finetune_export_loads_in_transformers_offline_and_scores_the_same(finetune_dir, dataset_dir):
    from transformers import AutoModelForSequenceClassification, pipeline

    written = manifest(finetune_dir)
    assert (finetune_dir / "model.safetensors").is_file() and not (
        finetune_dir / "pytorch_model.bin"
    ).exists()
    model = AutoModelForSequenceClassification.from_pretrained(finetune_dir, trust_remote_code=False)
    assert model.config.id2label == dict(enumerate(written["labels"]))
    assert written["labels"] == sorted(
        ["sadness", "joy", "love", "anger", "fear", "surprise"]
    )  # the dataset's
    texts, gold = validation(dataset_dir)
    classifier = pipeline("text-classification", model=str(finetune_dir), top_k=None)
    outputs = classifier(texts, truncation=True)
    labels = [max(scores, key=lambda s: s["score"])["label"] for scores in outputs]
    accuracy = np.mean([p == g for p, g in zip(labels, gold, strict=True)])
    assert accuracy == pytest.approx(written["metrics"]["accuracy"])
    assert written["n_examples"] == len(texts) and written["split"] == "validation"


def test_model_card_carries_the_results_as_model_index(finetune_dir):
    import yaml
    from huggingface_hub import ModelCard

    card = ModelCard.load(finetune_dir / export.CARD)
    metrics = manifest(finetune_dir)["metrics"]
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    results = {(r.metric_type, (r.metric_args or {}).get("average")): r for r in card.data.eval_results}
    assert results[("accuracy", None)].metric_value == round(metrics["accuracy"], 4)
    assert results[("f1", "weighted")].metric_value == round(metrics["f1_weighted"], 4)
    assert {(r.task_type, r.dataset_name, r.dataset_split) for r in results.values()} == {
        ("text-classification", "tiny-emotion", "validation")
    }
    front_matter = yaml.safe_load(card.content.split("---")[1])
    assert front_matter["model-index"][0]["results"][0]["task"]["type"] == "text-classification"
    assert "base_model" not in front_matter  # the checkpoint is a local path, not a hub id


def test_predict_prints_the_label_and_every_labels_probability(finetune_dir, capsys):
    assert predict.main([str(finetune_dir), *TEXTS]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    labels = manifest(finetune_dir)["labels"]
    assert len(blocks) == len(TEXTS)
    for text, block in zip(TEXTS, blocks, strict=True):
        header, *rows = block.splitlines()
        assert header.startswith(json.dumps(text) + " → ")
        assert sorted(row.split()[0] for row in rows) == sorted(labels)  # every label, one line each
        probabilities = [float(row.split()[1]) for row in rows]
        assert probabilities == sorted(probabilities, reverse=True)
        assert header.endswith(rows[0].split()[0])  # the label is the most probable one
        assert sum(probabilities) == pytest.approx(1, abs=1e-3)


def test_suite_pair_export_and_pipeline_agree(suite_file, cache_dir, finetune_dir, capsys):
    from transformers import pipeline

    from_suite = predicted(pair_args(suite_file, cache_dir, "finetune") + TEXTS, capsys)
    from_export = predicted([str(finetune_dir), *TEXTS], capsys)
    outputs = pipeline("text-classification", model=str(finetune_dir), top_k=None)(TEXTS)
    for a, b, scores in zip(from_suite, from_export, outputs, strict=True):
        assert a["label"] == b["label"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
        assert {s["label"]: s["score"] for s in scores} == pytest.approx(b["probabilities"], abs=1e-5)


def test_a_fitted_pair_comes_from_the_cache(suite_file, cache_dir, finetune_dir, capsys):
    trained = sorted((cache_dir / "finetune").glob("*/*/manifest.json"))
    assert len(trained) == 1
    predicted(pair_args(suite_file, cache_dir, "finetune") + TEXTS, capsys)
    assert sorted((cache_dir / "finetune").glob("*/*/manifest.json")) == trained  # nothing trained again


def test_features_export_loads_with_joblib_and_transformers(features_dir, suite_file, cache_dir, capsys):
    import joblib
    import torch
    from transformers import AutoModel, AutoTokenizer

    written = manifest(features_dir)
    assert written["pooling"] == "mean" and written["classifier"]["max_iter"] == 3000
    # the model card's recipe
    tokenizer = AutoTokenizer.from_pretrained(features_dir / "encoder")
    encoder = AutoModel.from_pretrained(features_dir / "encoder")
    classifier = joblib.load(features_dir / "classifier.joblib")
    batch = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    proba = classifier.predict_proba(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    by_joblib = [
        dict(zip([written["labels"][c] for c in classifier.classes_], row, strict=True)) for row in proba
    ]
    from_export = predicted([str(features_dir), *TEXTS], capsys)  # rebuilt from safetensors, no pickle
    from_suite = predicted(pair_args(suite_file, cache_dir, "features-logreg-mean") + TEXTS, capsys)
    for joblib_row, a, b in zip(by_joblib, from_export, from_suite, strict=True):
        assert a["probabilities"] == pytest.approx(joblib_row, abs=1e-5)
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
    assert "library_name: sklearn" in (features_dir / export.CARD).read_text(encoding="utf-8")


def test_predict_reads_one_text_per_stdin_line(finetune_dir, capsys):
    results = predicted([str(finetune_dir)], capsys, stdin=io.StringIO("".join(f"{t}\n" for t in TEXTS)))
    assert [r["text"] for r in results] == TEXTS


def test_push_to_hub_offline_says_so_in_one_line(suite_file, cache_dir, tmp_path, capsys):
    out = tmp_path / "pushed"
    argv = [
        *pair_args(suite_file, cache_dir, "features-logreg-mean"),
        "--out",
        str(out),
        "--push-to-hub",
        "me/x",
    ]
    assert export.main(argv) == 1
    err = capsys.readouterr().err  # after the progress bars of loading and saving the encoder
    assert err.endswith(
        "\nharness export: cannot reach the Hugging Face Hub (HF_HUB_OFFLINE is set); "
        f"the export is in {out}\n"
    )
    assert (out / export.MANIFEST).is_file()


class Unauthorized(http.server.BaseHTTPRequestHandler):
    """A hub that refuses every request: 401."""

    def do_POST(self):
        body = b'{"error": "Invalid credentials in Authorization header"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


def push_in_subprocess(endpoint: str, directory) -> str:
    """``push_to_hub`` in a fresh interpreter (huggingface_hub reads HF_ENDPOINT on import)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": endpoint, "HF_TOKEN": "hf_not_a_real_token"}
    code = (
        "import sys; from harness.commands.export import push_to_hub; print(push_to_hub(sys.argv[1], 'me/x'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(directory)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_push_to_hub_failures_are_one_line_without_the_token(tmp_path):
    closed = socket.socket()  # bound, not listening: connections are refused
    closed.bind(("127.0.0.1", 0))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        refused = push_in_subprocess(f"http://127.0.0.1:{closed.getsockname()[1]}", tmp_path)
        unauthorized = push_in_subprocess(f"http://127.0.0.1:{server.server_address[1]}", tmp_path)
    finally:
        server.shutdown()
        closed.close()
    assert refused.startswith("cannot reach the Hugging Face Hub (") and refused.count("\n") == 1
    assert refused.endswith(f"; the export is in {tmp_path}\n")
    assert (
        unauthorized.startswith("the Hugging Face Hub refused the upload to me/x (") and "401" in unauthorized
    )
    assert unauthorized.count("\n") == 1 and "hf_not_a_real_token" not in unauthorized


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--approach", "nope"],
            "no approach 'nope'; expected one of ['most-frequent', 'features-logreg-mean', ",
        ),
        (["--approach", "most-frequent"], "most-frequent: export writes features-logreg or finetune pairs"),
        (
            ["--approach", "finetune", "--checkpoint", "other/model"],
            "no checkpoint 'other/model'; expected one of",
        ),
        ([], "declares 3 approaches; choose one with --approach"),
    ],
)
def test_export_usage_errors_are_one_line(suite_file, cache_dir, tmp_path, capsys, argv, message):
    argv = [str(suite_file), "--cache-dir", str(cache_dir), "--out", str(tmp_path / "out"), *argv]
    assert export.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness export: ") and message in err and err.count("\n") == 1


def test_export_refuses_a_directory_that_is_not_empty(suite_file, cache_dir, tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    assert export.main([*pair_args(suite_file, cache_dir, "finetune"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"harness export: --out {tmp_path}: exists and is not an empty directory; "
        "expected a new or empty one\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_file_without_declarations_is_not_a_suite(tmp_path, capsys):
    suite = tmp_path / "test_empty.py"
    suite.write_text("import pytest\n", encoding="utf-8")
    assert predict.main([str(suite), "some text"]) == 2
    assert capsys.readouterr().err == (
        f"harness predict: {suite}: declares no DATASET, CHECKPOINTS, APPROACHES; expected module-level "
        "DATASET, CHECKPOINTS and APPROACHES (see suites/test_emotion.py)\n"
    )


@pytest.mark.parametrize(
    ("make_target", "argv", "stdin", "message"),
    [
        (lambda d, t: t / "missing", ["x"], None, "missing: no such file or directory; expected an exported"),
        (lambda d, t: t, ["x"], None, f"not an exported pair; expected {export.MANIFEST} (harness export)"),
        (
            lambda d, t: d,
            ["--checkpoint", "c", "x"],
            None,
            "is an exported directory; --checkpoint names a pair",
        ),
        (lambda d, t: d, [], "fine\n \n", "stdin line 2: empty text ' '; expected a text that is not blank"),
        (lambda d, t: d, [], "", "stdin holds no texts; expected one text per line"),
    ],
)
def test_predict_usage_errors_are_one_line(finetune_dir, tmp_path, capsys, make_target, argv, stdin, message):
    target = make_target(finetune_dir, tmp_path)
    assert predict.main([str(target), *argv], stdin=io.StringIO(stdin or "")) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness predict: ") and message in err and err.count("\n") == 1


def test_the_harness_command_lists_and_documents_both(capsys):
    assert cli.main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert "predict" in listing and "export" in listing
    for command in ("predict", "export"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, "--help"])
        assert exit_info.value.code == 0
        assert "--approach" in capsys.readouterr().out


def test_a_suite_that_fails_to_import_is_one_line(tmp_path, capsys):
    suite = tmp_path / "test_broken.py"
    suite.write_text("raise RuntimeError('no GPU here')\n", encoding="utf-8")
    assert predict.main([str(suite), "some text"]) == 2
    assert capsys.readouterr().err == (
        f"harness predict: {suite}: importing it failed (RuntimeError: no GPU here)\n"
    )


def test_a_command_pair_is_evaluated_and_predicts_as_the_suite_run_scored_it(suite_file, cache_dir):
    from harness.engine.run import Settings, SuiteRun
    from harness.engine.suite import load_suite

    suite = load_suite(suite_file)
    run = SuiteRun(Settings(cache_dir=cache_dir))
    pair = run.pair(suite, None, "features-logreg")  # a name only one spec has: features-logreg-mean
    evaluation = pair.evaluate()
    dataset, checkpoint = run.dataset(suite.dataset), run.resolve(suite.checkpoints[0])
    assert run.evaluate(suite.name, dataset, checkpoint, pair.spec, "train", "validation") is evaluation

    later = SuiteRun(Settings(cache_dir=cache_dir)).pair(suite, None, "features-logreg-mean")
    labels, proba = later.predict_proba(evaluation.texts)  # predictions cached: the estimator is fitted again
    assert later.evaluate().cached and labels == evaluation.labels
    np.testing.assert_allclose(proba, evaluation.proba, atol=1e-6)


def test_a_dtype_the_cpu_cannot_run_is_one_line_naming_the_pair(suite_file, cache_dir, monkeypatch, capsys):
    from .cpu_profiles import PROFILES

    PROFILES["avx2"].apply(monkeypatch)  # no native bf16 or fp16
    argv = [*pair_args(suite_file, cache_dir, "most-frequent"), "--device", "cpu", "--dtype", "bf16", "x"]
    assert predict.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness predict: most-frequent · ") and err.count("\n") == 1
    assert err.endswith(": dtype 'bf16' is not supported on cpu here; use fp32\n")


def test_a_seeded_pair_is_evaluated_per_seed_and_the_command_uses_the_first_seed(
    tmp_path, tiny_checkpoint, dataset_dir, cache_dir
):
    from harness.engine.run import Settings, SuiteRun
    from harness.engine.suite import load_suite

    seeded = 'approach_spec("finetune", learning_rate=3e-3, num_train_epochs=1, batch_size=32, seeds=[3, 4])'
    source = SUITE.format(dataset=str(dataset_dir), checkpoint=str(tiny_checkpoint))
    path = tmp_path / "test_seeded.py"
    path.write_text(source.replace("approach_spec(\"finetune\", learning_rate=3e-3, num_train_epochs=3, "
                                   "batch_size=32)", seeded), encoding="utf-8")
    pair = SuiteRun(Settings(cache_dir=cache_dir)).pair(load_suite(path), None, "finetune")
    evaluation = pair.evaluate()
    assert [run.seed for run in evaluation.seed_runs.seeds] == [3, 4]  # as the suite evaluates it
    assert evaluation.estimator.get_params()["seed"] == 3
    labels, proba = pair.predict_proba(evaluation.texts)
    np.testing.assert_allclose(proba, evaluation.proba, atol=1e-5)  # the first seed's model
