"""The report's checkpoint comparison, on a tiny two-checkpoint suite run end to end (pytester)."""

import json
import re
import shutil
import subprocess
import sys

import datasets  # noqa: F401  imported once here: in-process pytester runs must not re-import it
import numpy as np
import pytest

from harness.engine import stats
from harness.report.checkpoints import answer, checkpoint_view, common_speed, compared_pairs, paired
from harness.results import SuiteDocument
from harness.engine.compare import compare_pair

SUITE = '''
from harness import approach_spec

DATASET = "tiny-emotion"
CHECKPOINTS = [{small!r}, {large!r}]
APPROACHES = [
    approach_spec("most-frequent"),
    approach_spec("features-logreg", pooling="mean"),
    approach_spec("zero-shot"),
]
SPEED_SETTINGS = [("cpu", "fp32")]
SPEED_TASKS = ["inference"]
SPEED_TEXTS = 4
TIMING_TOLERANCE = 0.9  # this test is about the report, not about timing verdicts under load


def test_quality(evaluation, gate):
    gate(evaluation)
'''


@pytest.fixture(scope="module")
def wider_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny BERT's tokenizer with a wider random encoder (hidden 64): a second, larger checkpoint."""
    import torch
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("wider-bert")
    for path in tiny_checkpoint.iterdir():
        if path.name not in ("config.json", "model.safetensors"):
            shutil.copy(path, directory / path.name)
    config = BertConfig.from_pretrained(tiny_checkpoint)
    config.hidden_size, config.intermediate_size = 64, 128
    torch.manual_seed(1)
    BertModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def run(tiny_checkpoint, wider_checkpoint, dataset_dir, tmp_path_factory):
    """The suite run once, in its own process: ``(document, markdown, html, parameters by checkpoint)``."""
    root = tmp_path_factory.mktemp("two-checkpoints")
    (root / "test_two.py").write_text(SUITE.format(small=str(tiny_checkpoint), large=str(wider_checkpoint)))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "test_two.py", "--benchmark", f"--data-dir={dataset_dir.parent}",
         "--report-dir=out", "--device=cpu", "-q", "-p", "no:cacheprovider", f"--cache-dir={root / 'cache'}"],
        cwd=root, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = root / "out"
    from transformers import AutoModel

    parameters = {
        str(c): sum(p.numel() for p in AutoModel.from_pretrained(c).parameters())
        for c in (tiny_checkpoint, wider_checkpoint)
    }
    return (
        json.loads((out / "two.json").read_text()),
        (out / "two.md").read_text(),
        (out / "two.html").read_text(),
        parameters,
    )


def test_records_carry_the_weights_hash_and_size(run):
    doc, _, _, parameters = run
    for pair in doc["pairs"]:
        source = pair["checkpoint_source"]
        assert source["kind"] == "local" and re.fullmatch(r"sha256:[0-9a-f]{64}", source["weights"])
        assert source["n_parameters"] == parameters[pair["checkpoint"]]
        assert source["weights_mb"] > 0


def test_the_section_compares_each_approach_across_checkpoints(run):
    data, md, html, _ = run
    doc = SuiteDocument.model_validate(data)
    section = md.split("## Checkpoints", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith(("| features", "| zero"))]
    assert len(rows) == 4 and "most-frequent" not in section  # 2 approaches x 2 checkpoints; 1 runs no model
    comparisons = paired(doc, compared_pairs(doc))
    assert [c.a.approach for c in comparisons] == ["features-logreg-mean", "zero-shot"]
    records = {(p.checkpoint, p.approach.id): p for p in doc.pairs}
    for comparison in comparisons:  # what `harness compare` computes from the same records
        a = records[comparison.a.checkpoint, comparison.a.approach]
        b = records[comparison.b.checkpoint, comparison.b.approach]
        gold = np.asarray(a.predictions.gold)
        p_value, _ = stats.mcnemar_exact(np.asarray(a.predictions.predicted) == gold,
                                         np.asarray(b.predictions.predicted) == gold)
        assert comparison.mcnemar_p == pytest.approx(p_value)
        assert [comparison] == compare_pair(a, b)
        assert re.search(rf" · {comparison.a.approach} +\|", section)
        assert f"{comparison.mcnemar_p:.3g}" in section
    assert 'id="checkpoints"' in html and 'class="checkpoint-scatter" src="data:image/png;base64,' in html


def test_the_summary_answers_which_checkpoint_at_what_cost(run):
    data, md, html, parameters = run
    doc = SuiteDocument.model_validate(data)
    view = checkpoint_view(doc)
    summary = md.split("## Summary", 1)[1].split("## Leaderboard", 1)[0]
    assert view.answer.startswith("Which checkpoint: ")
    assert view.answer.replace("\\", "") in summary.replace("\\", "")
    assert view.answer in html.replace("&#39;", "'")
    best = max((p for p in doc.evaluated() if p.n_truncated is not None), key=lambda p: p.metrics.accuracy)
    reached = f"{best.checkpoint} · {best.approach.id} reaches accuracy {best.metrics.accuracy:.3f}"
    assert reached in view.answer
    speeds = {r.checkpoint: r.texts_per_s for r in doc.performance}
    other = next(c for c in speeds if c != best.checkpoint)
    ratio = speeds[best.checkpoint] / speeds[other]
    assert f"runs at {ratio:.2g}× the texts/s" in view.answer
    assert f"{parameters[best.checkpoint] / parameters[other]:.2g}× the parameters" in view.answer
    assert {b.size for b in view.bubbles} == set(parameters.values())


def test_an_insignificant_lead_names_the_cheaper_checkpoint(run):
    """The same predictions under two names: no difference, so the faster checkpoint is the answer."""
    data, _, _, _ = run
    doc = SuiteDocument.model_validate(data)
    groups = compared_pairs(doc)
    first, second = groups["zero-shot"]
    twin = second.model_copy(update={"predictions": first.predictions, "metrics": first.metrics})
    speeds = {r.checkpoint: r.texts_per_s for r in doc.performance}
    faster = max(speeds, key=speeds.get)
    groups = {"zero-shot": [first, twin]}
    twin_test = compare_pair(first, twin)
    line = answer(groups, twin_test, common_speed(doc.performance, set(speeds)))
    verdict = f"Which checkpoint: {faster}: the difference is not significant and it is the cheaper."
    assert line.startswith(verdict)
