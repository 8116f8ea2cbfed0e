"""Label and split checks in the dataset overview (classes without training examples, labels that differ
only by case or whitespace, evaluation texts found in train), and token lengths in bounded memory."""

import tracemalloc

import datasets
import pytest

from harness.engine.data import load_local
from harness.engine.overview import dataset_overview, token_lengths
from harness.report.content import data_warnings
from harness.results.model import DatasetOverview

from .conftest import make_examples, write_txt


def _folder(tmp_path, train, validation):
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_txt(tmp_path / "train.txt", train)
    write_txt(tmp_path / "validation.txt", validation)
    return tmp_path


def test_labels_differing_by_case_or_whitespace_and_classes_without_training_examples_are_listed(tmp_path):
    train = [(f"train text {i}", ["joy", "sadness"][i % 2]) for i in range(20)]
    validation = [("a", "joy"), ("b", "joy "), ("c", "Joy"), ("d", "sadness")]
    dataset = load_local(_folder(tmp_path, train, validation))
    overview = dataset_overview("mixed", dataset)
    checks = overview["label_checks"]
    assert sorted(checks["unseen_in_train"]["validation"]) == ["Joy", "joy "]
    assert [sorted(group) for group in checks["similar_labels"]] == [["Joy", "joy", "joy "]]
    lines = data_warnings(DatasetOverview.model_validate(overview))
    assert "dataset mixed: validation has classes with no train examples:" in lines[0]
    assert "labels that differ only by case or whitespace: " in lines[1]


def test_evaluation_texts_copied_from_train_are_leakage_with_share_and_examples(tmp_path):
    train = make_examples(100, 0)
    validation = train[:40] + make_examples(10, 1)  # 40 of 50 copied
    overview = dataset_overview("copied", load_local(_folder(tmp_path, train, validation)))
    (leak,) = overview["leakage"]
    assert (leak["split"], leak["n_leaked"], leak["share"]) == ("validation", 40, 0.8)
    assert leak["examples"][:3] == [text for text, _ in train[:3]] and len(leak["examples"]) == 10
    (line,) = data_warnings(DatasetOverview.model_validate(overview))
    assert line.startswith("dataset copied: 40 validation texts (80.0%) appear verbatim in train (leakage), e.g. ")


def test_a_clean_split_draws_no_warning(dataset_dir):
    overview = dataset_overview("tiny", load_local(dataset_dir))
    assert overview["leakage"] == [] and data_warnings(DatasetOverview.model_validate(overview)) == []


def _peak_bytes(dataset, tokenizer) -> int:
    tracemalloc.start()
    try:
        token_lengths(dataset, tokenizer, 64)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_token_lengths_take_bounded_memory_whatever_the_split_size(tiny_checkpoint):
    """Tokenized in batches: 8x the texts must not take anywhere near 8x the memory (the whole split in
    one call held every text's token ids at once: about 16 KB per text on the 407k-line split)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})

    def split(n: int):
        texts = [f"i feel {'happy' if i % 2 else 'sad'} about thing number {i} today" for i in range(n)]
        return datasets.DatasetDict(
            {"train": datasets.Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(n)]}, features=features)}
        )

    small, large = _peak_bytes(split(4_000), tokenizer), _peak_bytes(split(32_000), tokenizer)
    assert large < 2.5 * small, (small, large)
    assert large / 32_000 < 1_000  # bytes per text: the lengths and labels, not the token ids


LEAKY_SUITE = """
import pytest
from harness import approach_spec

DATASET = {folder!r}
CHECKPOINTS = [{checkpoint!r}]
APPROACHES = [approach_spec("most-frequent")]
SPEED_SETTINGS = []

def test_quality(evaluation, gate):
    gate(evaluation, accuracy=0.0)
"""


@pytest.mark.parametrize("strict", [False, True])
def test_a_run_warns_loudly_about_leakage_and_strict_data_fails(pytester, tmp_path, tiny_checkpoint, strict):
    train = make_examples(60, 0)
    folder = _folder(tmp_path / "leaky", train, train[:20])
    pytester.makepyfile(test_leaky=LEAKY_SUITE.format(folder=str(folder), checkpoint=str(tiny_checkpoint)))
    result = pytester.runpytest_subprocess("--report-dir=reports", "-p", "no:cacheprovider",
                                           *(["--strict-data"] if strict else []))
    expected = "20 validation texts (100.0%) appear verbatim in train (leakage)"
    assert any(line.startswith("harness: WARNING: dataset ") and expected in line for line in result.outlines)
    markdown = (pytester.path / "reports" / "leaky.md").read_text(encoding="utf-8")
    assert "**Data warnings:**" in markdown and expected in markdown
    if strict:
        result.assert_outcomes(errors=1)
        assert result.ret == 1
    else:
        result.assert_outcomes(passed=1)
        assert result.ret == 0
