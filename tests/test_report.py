"""The suite report: Markdown and HTML from a suite results document, its CLI and step summary."""

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.text import Text

from harness.commands import main as harness_main
from harness.report import append_step_summary, figures, leaderboard_markdown, render_suite
from harness.commands.report import main as report_main
from harness.report.cells import FULL_TEXT_LIMIT, TEXT_LIMIT
from harness.report.figures import confusion_matrix, data_uri
from harness.report.content import training_text
from harness.report.markdown import escape
from harness.results import SuiteDocument, validate, write_json
from harness.results.model import TrainingThroughput

from .report_fixture import (
    HOSTILE_TEXTS,
    MINILM,
    SKIP_REASON,
    TRAINING_THROUGHPUT,
    conflicting_document,
    hostile_document,
    long_text_document,
    many_classes_document,
    minimal_document,
    suite_document,
)

SECTIONS = [
    "Summary", "Leaderboard", "Checkpoints", "Run", "Dataset overview", "Pairs", "Comparisons", "Performance",
    "Where the time went",
]


def without_render_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "Rendered:" not in line)


def typed(doc: dict) -> SuiteDocument:
    return validate(doc, SuiteDocument, "test document")


def render(doc: dict, directory):
    md, html = render_suite(typed(doc), directory)
    return md.read_text(encoding="utf-8"), html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    doc = suite_document()
    md, html = render(doc, tmp_path_factory.mktemp("full"))
    return doc, md, html


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    md, html = render(hostile_document(), directory)
    return md, html, directory / "emotion.html"


def evaluated(doc):
    return [p for p in doc["pairs"] if p["metrics"]]


def title(pair):
    return f"{pair['checkpoint']} · {pair['approach']['id']}"


# --- Markdown tables, parsed as GitHub does: `\x` escapes x, an unescaped `|` separates cells ---


def md_cells(line: str) -> list[str]:
    cells, current, escaped = [], "", False
    for char in line.strip():
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif char == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += char
    return cells[1:]  # text before the first pipe; the row ends with a pipe


def md_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table: header row, then body rows (the delimiter row dropped)."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(md_cells(line))
        elif block:
            tables.append([block[0], *block[2:]])
            block = []
    return tables


def md_table_after(text: str, caption: str) -> list[list[str]]:
    """The first table after the line ``caption``."""
    return md_tables(text[text.index(caption) :])[0]


# --- HTML, parsed with the standard library ---


class Tree(HTMLParser):
    """Start tags in order (name, attributes), and each table's rows of cells (tag, class, text)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.tables, self._cell, self.open = [], [], None, []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = {
                "tag": tag,
                "class": attrs.get("class", ""),
                "title": attrs.get("title"),
                "text": "",
            }
            self.tables[-1]["rows"][-1].append(self._cell)
        if tag not in ("meta", "img", "br", "link"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def tables_of(self, kind: str) -> list[dict]:
        return [t for t in self.tables if kind in t["class"].split()]


# --- content ---


def test_every_section_is_present(full):
    doc, md, html = full
    headings = re.findall(r"^#+ (.*)$", md, flags=re.M)
    assert headings[0] == "harness report: emotion"
    assert [h for h in headings if h in SECTIONS] == SECTIONS
    assert [h for h in headings if "·" in h] == [escape(title(p)) for p in evaluated(doc)]
    tree = Tree(html)
    assert [a["id"] for tag, a in tree.tags if tag == "section"] == [
        "summary",
        "leaderboard",
        "checkpoints",
        "run",
        "dataset-overview",
        "pairs",
        "comparisons",
        "performance",
        "time-budget",
    ]
    assert [a["id"] for tag, a in tree.tags if tag == "article"] == [
        f"pair-{i}" for i in range(1, len(evaluated(doc)) + 1)
    ]


def test_header_says_where_and_with_what_the_run_was_made(full):
    doc, md, html = full
    env = doc["environment"]
    for text in (md, html):
        for value in (env["git_commit"], env["cpu"], env["device"], env["dtype"], env["date"], doc["run_id"]):
            assert value in text
        assert "transformers 5.24.0" in text and "GPU" in text
        assert len(re.findall(r"Rendered: \d{4}-\d\d-\d\dT", text)) == 1


def test_leaderboard_rows_match_the_document_and_mark_the_best_values(full):
    doc, md, _ = full
    header, *rows = md_table_after(md, "## Leaderboard")
    column = {name: i for i, name in enumerate(header)}
    assert len(rows) == len(evaluated(doc))
    by_pair = {(r[column["checkpoint"]], r[column["approach"]]): r for r in rows}
    best_accuracy = max(p["metrics"]["accuracy"] for p in evaluated(doc))
    fastest_fit = min(p["timings"]["fit"] for p in evaluated(doc))
    for pair in evaluated(doc):
        row = by_pair[pair["checkpoint"], escape(pair["approach"]["id"])]
        metrics = pair["metrics"]
        accuracy = f"{metrics['accuracy']:.3f}"
        assert row[column["accuracy"]] == (
            f"**{accuracy}**" if metrics["accuracy"] == best_accuracy else accuracy
        )
        assert row[column["F1 weighted"]].strip("*") == f"{metrics['f1_weighted']:.3f}"
        assert row[column["F1 macro"]].strip("*") == f"{metrics['f1_macro']:.3f}"
        low, high = metrics["ci"]["accuracy"]
        assert row[column["accuracy 95% CI"]] == rf"\[{low:.3f}, {high:.3f}\]"
        fit = f"{pair['timings']['fit']:.2f}" + (" (cached)" if pair["cached"] else "")
        assert row[column["fit s"]] == (f"**{fit}**" if pair["timings"]["fit"] == fastest_fit else fit)
        speed = pair["n_examples"] / pair["timings"]["predict"]
        shown = f"{speed:,.0f}" if pair["approach"]["runs_model"] else "—"
        assert row[column["predict texts/s"]].strip("*") == shown
        runtime = pair["runtime"]
        assert row[column["runtime"]] == f"{runtime['device']} · {runtime['dtype']} · {runtime['batch_size']}"
        gates = row[column["gates"]]
        assert ("✗" in gates) == (not all(g["passed"] for g in pair["gates"]))
    ranked = [float(r[column["accuracy"]].strip("*")) for r in rows]
    assert ranked == sorted(ranked, reverse=True)


def test_html_leaderboard_highlights_the_same_cells(full):
    doc, md, html = full
    (board,) = Tree(html).tables_of("leaderboard")
    best = [[c["text"] for c in row if "best" in c["class"].split()] for row in board["rows"][1:]]
    _, *md_rows = md_table_after(md, "## Leaderboard")
    assert best == [[c.strip("*") for c in row if c.startswith("**")] for row in md_rows]
    assert html.count("<strong>") >= sum(len(b) for b in best) > 0


def test_skipped_and_failed_pairs_are_listed_with_their_reasons(full):
    doc, md, html = full
    header, *rows = md_table_after(md, "Skipped and failed pairs:")
    problems = [p for p in doc["pairs"] if p["status"] != "passed"]
    assert (
        [r[header.index("status")] for r in rows] == [p["status"] for p in problems] == ["skipped", "failed"]
    )
    for row, pair in zip(rows, problems, strict=True):
        assert row[header.index("reason")] == escape(pair["reason"])
    assert SKIP_REASON in html
    failed = next(p for p in problems if p["status"] == "failed")
    assert "accuracy 0.159 &lt; 0.300" in html and failed["reason"].replace("<", "&lt;") in md


def test_dataset_overview(full):
    doc, md, html = full
    overview = doc["datasets"]["emotion"]
    header, *rows = md_table_after(md, "Split sizes and texts per class:")
    assert header == ["split", "texts", *overview["labels"]]
    for row, (split, info) in zip(rows, overview["splits"].items(), strict=True):
        assert row == [
            split,
            str(info["n"]),
            *(str(info["class_counts"][label]) for label in overview["labels"]),
        ]
    header, *rows = md_table_after(md, "Texts longer than the model's maximum input")
    for row, (checkpoint, lengths) in zip(rows, overview["token_lengths"].items(), strict=True):
        assert row[0] == checkpoint and row[1] == str(lengths["max_length"])
        assert row[2] == ", ".join(f"{s}: {n}" for s, n in lengths["n_exceeding"].items())
    n_conflicting = overview["duplicates"]["n_conflicting"]
    assert n_conflicting > 0 and f"Texts that appear with conflicting gold labels: {n_conflicting}" in md
    tree = Tree(html)
    (duplicates,) = tree.tables_of("duplicates")
    assert len(duplicates["rows"]) == 1 + len(overview["duplicates"]["examples"])
    images = [a for tag, a in tree.tags if tag == "img"]
    assert sum("class-distribution" in a["class"] for a in images) == 1
    boxes = [a for a in images if a["class"] == "token-lengths"]
    assert [a["alt"] for a in boxes] == [
        f"Tokens per text by class, {c} tokenizer" for c in overview["token_lengths"]
    ]


def test_each_pair_has_its_confusion_matrix_classes_and_examples(full):
    doc, md, html = full
    tree = Tree(html)
    pairs = evaluated(doc)
    confusion = [a for tag, a in tree.tags if tag == "img" and a.get("class") == "confusion-matrix"]
    assert [a["alt"] for a in confusion] == [f"Normalized confusion matrix of {title(p)}" for p in pairs]
    assert all(a["src"].startswith("data:image/png;base64,") for a in confusion)
    for kind in ("worst-loss", "best-loss"):
        tables = tree.tables_of(kind)
        assert len(tables) == len(pairs)
        for table, pair in zip(tables, pairs, strict=True):
            examples = pair["examples"][kind.replace("-", "_")]
            assert [row[0]["text"] for row in table["rows"][1:]] == [str(e["index"]) for e in examples]
            assert [row[4]["text"] for row in table["rows"][1:]] == [f"{e['loss']:.3f}" for e in examples]
    sections = md.split("\n### ")[-len(pairs) :]
    for section, pair in zip(sections, pairs, strict=True):
        header, *rows = md_table_after(section, "Confusion matrix")
        assert header[1:] == pair["labels"]
        assert [r[1:] for r in rows] == [
            [f"{v:.2f}" for v in row] for row in pair["metrics"]["confusion_matrix"]
        ]
        header, *rows = md_table_after(section, "Per class:")
        assert [r[-1] for r in rows] == [str(s["support"]) for s in pair["metrics"]["per_class"].values()]
        _, *rows = md_table_after(section, "Worst-loss examples:")
        assert [r[-1] for r in rows] == [f"{e['p_gold']:.3f}" for e in pair["examples"]["worst_loss"]]


def test_a_fine_tune_says_how_fast_it_trained_against_the_gemm_peak(full):
    doc, md, html = full
    expected = (
        "500 steps over 32,000 texts in 100.9 s (cpu, bf16, 2 threads): 456 useful GFLOP/s, 48.7% of the "
        "GEMM peak (934 GFLOP/s, best of 3 readings); padding 3.5% of the batched tokens"
    )
    trained = [p for p in evaluated(doc) if p["training_throughput"] is not None]
    assert [p["approach"]["id"] for p in trained] == ["finetune"]
    assert trained[0]["training_throughput"]["gemm_peak_readings"] == TRAINING_THROUGHPUT["gemm_peak_readings"]
    assert md.count(f"- **Training:** {expected}") == 1
    assert html.count(expected) == 1
    record = TrainingThroughput.model_validate(TRAINING_THROUGHPUT)
    cached = training_text(record, cached=True)
    assert cached == f"{expected} (cached: measured by the run that trained the model)"


def test_statistics_render_when_present(full):
    doc, md, html = full
    pairs = evaluated(doc)
    tree = Tree(html)
    assert sum(a.get("class") == "reliability-diagram" for tag, a in tree.tags if tag == "img") == len(pairs)
    for pair in pairs:
        metrics = pair["metrics"]
        assert f"Calibration: ECE {metrics['ece']:.3f} · Brier {metrics['brier']:.3f}" in md
    suspects = [p for p in pairs if "label_suspects" in p]
    assert html.count("<h4>Label-issue suspects</h4>") == len(suspects) > 0
    with_examples = [p for p in suspects if p["label_suspects"]["examples"]]
    assert len(tree.tables_of("suspects")) == len(with_examples) > 0
    statuses = [p["baseline"]["status"] for p in pairs if "baseline" in p]
    assert re.findall(r"^Baseline: (\w+)$", md, flags=re.M) == statuses
    assert {"ok", "regressed", "new"} <= set(statuses)


def test_comparisons_and_performance_tables(full):
    doc, md, _ = full
    header, *rows = md_table_after(md, "## Comparisons")
    for row, c in zip(rows, doc["comparisons"], strict=True):
        assert row[header.index("McNemar p")] == f"{c['mcnemar_p']:.3g}"
        assert row[header.index("A − B")] == f"{c['difference']:+.3f}"
        winner = row[header.index("winner")]
        expected = {"a": c["a"], "b": c["b"]}.get(c["winner"])
        assert winner == (
            f"{expected['checkpoint']} · {escape(expected['approach'])}"
            if expected
            else "no significant difference"
        )
    assert len(rows) == len(doc["comparisons"])
    header, *rows = md_table_after(md, "## Performance")
    assert len(rows) == len(doc["performance"])
    for row, r in zip(rows, doc["performance"], strict=True):
        assert row[header.index("texts/s")] == f"{r['texts_per_s']:,.1f}"
        assert row[header.index("p99 ms")] == f"{r['latency_ms']['p99']:.1f}"
        speedup = r.get("speedup_vs_cpu")
        assert row[header.index("speedup vs CPU")] == (f"{speedup:.2f}" if speedup else "—")
        gate = (r.get("baseline") or {}).get("status")
        assert row[header.index("vs baseline")] == (
            "regressed (0.51× baseline ratio, re-measured)" if gate else "—"
        )
        assert row[header.index("busy machine")] == ("yes (56% waiting for a CPU)" if gate else "—")
        assert row[header.index("p50 ms/text (batch 1)")] == ("7.9" if gate else "—")


def test_every_section_renders_without_optional_fields(tmp_path):
    doc = minimal_document()
    md, html = render(doc, tmp_path)
    for text in (md, html):
        assert "No dataset overview in this run." in text
        assert "No comparisons in this run." in text
        assert "No performance records in this run." in text
        assert "95% CI" not in text and "Calibration" not in text and "Baseline" not in text
    header, *rows = md_table_after(md, "## Leaderboard")
    assert "accuracy" in header and len(rows) == len(evaluated(doc))
    assert len(Tree(html).tables_of("per-class")) == len(evaluated(doc))


def test_gpu_records_stand_beside_the_cpu_fp32_record_of_the_same_work(tmp_path):
    doc = minimal_document()

    def timed(device, dtype, texts_per_s, p50, batch_size=64):
        return {
            "checkpoint": "m",
            "task": "inference",
            "device": device,
            "dtype": dtype,
            "batch_size": batch_size,
            "texts_per_s": texts_per_s,
            "latency_per_text_ms": {"p50": p50},
        }

    doc["performance"] = [
        timed("cpu", "fp32", 400.0, 8.0),
        timed("cpu", "bf16", 500.0, 7.0),
        timed("cuda:0", "fp32", 8000.0, 2.0),
        timed("cuda:0", "bf16", 16000.0, 1.6),
        timed("cuda:0", "bf16", 9000.0, 1.6, batch_size=32),  # no CPU record at batch 32: not shown
    ]
    md, html = render(doc, tmp_path)
    header, *rows = md_table_after(md, "### GPU vs CPU")
    assert [(r[header.index("GPU setting")], r[header.index("texts/s speedup")]) for r in rows] == [
        ("cuda:0 fp32", "20.00"),
        ("cuda:0 bf16", "40.00"),
    ]
    assert [r[header.index("batch-1 speedup")] for r in rows] == ["4.00", "5.00"]
    assert rows[1][header.index("CPU fp32 texts/s")] == "400.0"
    assert rows[1][header.index("GPU texts/s")] == "16,000.0"
    assert "<h3>GPU vs CPU</h3>" in html

    doc["performance"] = doc["performance"][:2]  # a CPU-only run has no such table
    md, html = render(doc, tmp_path)
    assert "GPU vs CPU" not in md and "GPU vs CPU" not in html


def test_a_run_where_nothing_was_evaluated(tmp_path):
    doc = minimal_document()
    doc["pairs"] = [p for p in doc["pairs"] if not p["metrics"]]
    md, html = render(doc, tmp_path)
    assert md.count("No pair was evaluated.") == 3 and html.count("No pair was evaluated.") == 3
    assert SKIP_REASON in md and SKIP_REASON in html


# --- untrusted text ---


def test_hostile_text_is_inert_in_markdown(hostile):
    md, _, _ = hostile
    assert "<script" not in md.lower() and "<img" not in md.lower()
    for table in md_tables(md):
        assert {len(row) for row in table} == {len(table[0])}
    assert "naïve café — 😀 👩\u200d👩\u200d👧 日本語のテキスト" in md
    assert "\u2068שלום עולם مرحبا بالعالم \u202eevil override\u202c end\u2069" in md
    assert "line one line two line three line four line five" in md
    assert r"pipes \| a \|\| b \\\| c, a back\\slash, \`code\`, \*\*bold\*\*" in md
    assert "&amp; &amp;amp;" in md
    long = [
        c for line in md.splitlines() if "| long xxx" in line for c in md_cells(line) if c.startswith("long")
    ]
    assert len(long) > 1 and all(c.endswith("…") and len(c) == TEXT_LIMIT for c in long)


def test_hostile_text_is_inert_in_html(hostile):
    _, html, _ = hostile
    assert "<script" not in html.lower()
    tree = Tree(html)
    assert not tree.open, f"unclosed elements: {tree.open}"
    for tag, attrs in tree.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
    assert {tag for tag, _ in tree.tags} <= {
        *"html head meta title style body header nav main section article h1 h2 h3 h4 p".split(),
        *"dl dt dd ol li a strong div table thead tbody tr th td figure figcaption img".split(),
        *"details summary ul".split(),  # ul: the data warnings
    }
    for table in tree.tables:
        widths = {len(row) for row in table["rows"]}
        assert len(widths) == 1, table["class"]
    cells = [c for t in tree.tables_of("worst-loss") for row in t["rows"] for c in row]
    texts = {c["text"] for c in cells}
    assert HOSTILE_TEXTS[0] in texts and HOSTILE_TEXTS[1] in texts  # shown as text, whole
    assert "naïve café — 😀 👩\u200d👩\u200d👧 日本語のテキスト" in texts
    long = next(c for c in cells if c["text"].startswith("long x"))
    assert long["text"].endswith("…") and len(long["text"]) == TEXT_LIMIT
    assert long["title"] == HOSTILE_TEXTS[4][: FULL_TEXT_LIMIT - 1] + "…"
    assert "line one line two line three line four line five" in texts


# --- determinism and the command line ---


def test_rerendering_the_saved_json_reproduces_both_files(full, tmp_path):
    doc, md, html = full
    saved = tmp_path / "emotion.json"
    saved.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    assert report_main([str(saved)]) == 0
    assert without_render_time((tmp_path / "emotion.md").read_text(encoding="utf-8")) == without_render_time(
        md
    )
    assert without_render_time(
        (tmp_path / "emotion.html").read_text(encoding="utf-8")
    ) == without_render_time(html)
    assert len(without_render_time(md).splitlines()) == len(md.splitlines()) - 1


def test_python_m_harness_report_in_a_fresh_process_gives_the_same_bytes(tmp_path):
    doc = minimal_document()
    expected = [p.read_bytes() for p in render_suite(typed(doc), tmp_path / "in-process")]
    saved = tmp_path / "emotion.json"
    saved.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "cli"
    result = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(saved), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(out / "emotion.md"), str(out / "emotion.html")]
    produced = [(out / name).read_bytes() for name in ("emotion.md", "emotion.html")]
    for got, want in zip(produced, expected, strict=True):
        assert without_render_time(got.decode()) == without_render_time(want.decode())


def evaluated_pair(doc: dict) -> dict:
    return next(p for p in doc["pairs"] if p["metrics"])


def with_nan_accuracy() -> str:
    doc = minimal_document()
    evaluated_pair(doc)["metrics"]["accuracy"] = float("nan")
    return json.dumps(doc)  # writes the non-standard constant NaN


def with_gold_id(label_id: int) -> str:
    doc = suite_document()
    evaluated_pair(doc)["predictions"]["gold"][3] = label_id
    return json.dumps(doc)


def with_n_examples(n: int) -> str:
    doc = minimal_document()
    evaluated_pair(doc)["n_examples"] = n
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, ": no such file"),
        ("{not json", ":1:2: invalid JSON (Expecting property name enclosed in double quotes)"),
        ("", ":1:1: invalid JSON (Expecting value)"),
        ('{"kind": "something else"}', ": kind: expected 'harness.suite', got \"something else\""),
        ('{"kind": "harness.suite", "schema_version": 7}', ": written by schema 7, this is 1;"),
        (
            '{"kind": "harness.suite", "suite": "s", "run_id": "r", "environment": {}, "pairs": [3]}',
            ": pairs[0]: expected an object, got 3",
        ),
        ("[1, 2]", ": (top level): expected an object, got [1, 2]"),
        ("[" * 100_000 + "]" * 100_000, ": nested too deeply; expected a results document"),
        (with_nan_accuracy(), ": pairs[0].metrics.accuracy: expected a finite number, got NaN"),
        (with_gold_id(-1), ": pairs[0].predictions.gold[3]: expected a number at least 0, got -1"),
        (with_gold_id(6), ": pairs[0].predictions.gold[3]: expected a label id below 6 (labels), got 6"),
        (
            with_n_examples(10**400),
            ": pairs[0].n_examples: expected a number at most 9007199254740992 or null, got 1000",
        ),
    ],
    ids=[
        "missing",
        "not-json",
        "empty",
        "other-kind",
        "newer-schema",
        "pair-not-object",
        "top-level-array",
        "nested-100000-deep",
        "nan-accuracy",
        "gold-minus-1",
        "gold-past-labels",
        "n-examples-10**400",
    ],
)
def test_a_bad_results_file_gives_a_one_line_error_naming_it(tmp_path, capsys, content, expected):
    path = tmp_path / "emotion.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert report_main([str(path)]) == 2  # bad input: the exit status of every command
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"harness report: {path}{expected}"), err
    assert len(err) < 300
    assert not list(tmp_path.glob("*.md")) and not list(tmp_path.glob("*.html"))


def test_the_dispatcher_runs_the_report_command(tmp_path, capsys):
    assert harness_main(["report", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err == f"harness report: {tmp_path / 'missing.json'}: no such file\n"


def test_the_error_has_no_traceback_in_a_real_process(tmp_path):
    missing = tmp_path / "missing.json"
    result = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(missing)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr == f"harness report: {missing}: no such file\n"


def test_figures_are_reproducible_pngs_without_software_metadata():
    matrix, labels = [[0.75, 0.25], [0.1, 0.9]], ["joy", "anger"]
    first, second = confusion_matrix(matrix, labels), confusion_matrix(matrix, labels)
    assert first == second and first.startswith(b"\x89PNG") and b"Software" not in first
    assert data_uri(first).startswith("data:image/png;base64,iVBOR")


# --- GitHub step summary ---


def test_step_summary_appends_the_leaderboard(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    doc = typed(suite_document())
    assert append_step_summary(doc) == summary
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n## harness: emotion\n")
    assert leaderboard_markdown(doc) in text
    header, *rows = md_tables(text)[0]
    assert header[:4] == ["#", "checkpoint", "approach", "accuracy"] and len(rows) == len(doc.evaluated())


def test_step_summary_does_nothing_outside_github(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert append_step_summary(typed(suite_document())) is None
    assert not list(tmp_path.iterdir())


# --- what the report says first ---


def test_the_report_answers_first(full):
    doc, md, html = full
    headings = re.findall(r"^## (.*)$", md, flags=re.M)
    assert headings[:4] == ["Summary", "Leaderboard", "Checkpoints", "Run"]  # two checkpoints here
    assert (
        "6 pairs: 4 passed, 1 failed, 1 skipped." in md and "6 pairs: 4 passed, 1 failed, 1 skipped." in html
    )
    header, *rows = md_table_after(md, "Best pair per metric:")
    assert header == ["metric", "checkpoint", "approach", "value", "95% CI"]
    names = {"accuracy": "accuracy", "f1_weighted": "F1 weighted", "f1_macro": "F1 macro"}
    for metric, name in names.items():
        best = max(evaluated(doc), key=lambda p: p["metrics"][metric])
        low, high = best["metrics"]["ci"][metric]
        assert [name, best["checkpoint"], escape(best["approach"]["id"])] in [r[:3] for r in rows]
        row = next(r for r in rows if r[0] == name)
        assert row[3:] == [f"{best['metrics'][metric]:.3f}", rf"\[{low:.3f}, {high:.3f}\]"]
    header, *rows = md_table_after(md, "Fastest checkpoint per device and task")
    fastest = {}
    for r in doc["performance"]:
        key = (r["device"], r["task"])
        if key not in fastest or r["texts_per_s"] > fastest[key]["texts_per_s"]:
            fastest[key] = r
    assert rows == [
        [
            r["device"],
            r["task"],
            r["checkpoint"],
            f"{r['texts_per_s']:,.1f}",
            r["dtype"],
            str(r["batch_size"]),
        ]
        for r in fastest.values()
    ]
    assert (
        "Baseline: 1 ok, 1 regressed (sentence-transformers/all-MiniLM-L6-v2 · features-logreg-mean), 1 new; "
        "timing: 1 regressed (sentence-transformers/all-MiniLM-L6-v2 extraction cpu float32)."
    ) in md
    summary_end = md.index("## Leaderboard")
    assert md.index("Skipped and failed pairs:") < summary_end < md.index("## Dataset overview")
    assert md.index("Which checkpoint: sentence-transformers/all-MiniLM-L6-v2, significantly better.") < summary_end
    assert md.index("conflicting gold labels") > md.index("## Dataset overview")


def test_throughput_is_shown_only_where_the_predict_step_ran_the_model(full):
    doc, md, html = full
    header, *rows = md_table_after(md, "## Leaderboard")
    speed = {(r[1], r[2]): r[header.index("predict texts/s")] for r in rows}
    finetune = next(p for p in evaluated(doc) if p["approach"]["id"] == "finetune")
    assert speed[MINILM, "finetune"].strip("*") == f"{finetune['n_examples'] / 2.6:,.0f}"
    assert speed[MINILM, "features-logreg-mean"] == speed[MINILM, "most-frequent"] == "—"
    note = md[md.index("## Leaderboard") : md.index("## Run")]
    assert "features-logreg-mean classifies features extracted beforehand" in note
    assert "most-frequent runs no model" in note and "Performance section" in note
    (board,) = Tree(html).tables_of("leaderboard")
    assert (
        "Model throughput is measured in the Performance section." in html[html.index('id="leaderboard"') :]
    )
    assert sum(row[header.index("predict texts/s")]["text"] == "—" for row in board["rows"][1:]) == 4


def test_leaderboards_show_each_pairs_runtime_and_mark_cached_timings(full):
    """A bf16 fine-tune beside fp32 feature pairs shows as such; a cached pair's timings say an earlier
    run measured them, in the Markdown, the HTML and the terminal."""
    from harness.report.table import leaderboard as terminal

    doc, md, html = full
    header, *rows = md_table_after(md, "## Leaderboard")
    shown = {(r[1], r[2]): (r[header.index("runtime")], r[header.index("fit s")]) for r in rows}
    assert shown[MINILM, "finetune"] == ("cpu · bf16 · 32", "612.30")
    assert shown["distilbert-base-uncased", "features-logreg-mean"] == ("cpu · fp32 · 64", "41.70 (cached)")
    assert shown[MINILM, "features-logreg-mean"] == ("cpu · fp32 · 64", "41.70")
    earlier = "are those of the earlier run that computed them"
    assert earlier in md[md.index("## Leaderboard") : md.index("## Run")]
    (board,) = Tree(html).tables_of("leaderboard")
    texts = [[c["text"] for c in row] for row in board["rows"]]
    assert ["cpu · bf16 · 32" in row for row in texts[1:]].count(True) == 1
    assert sum("41.70 (cached)" in row for row in texts[1:]) == 1 and earlier in html
    table = terminal(typed(doc).pairs)
    assert "cpu · bf16 · 32" in table and "41.7 (cached)" in table and "(cached): timings measured" in table


def test_conflicting_labels_are_listed_briefly_in_markdown_and_collapsed_in_html(tmp_path):
    md, html = render(conflicting_document(51), tmp_path)
    caption = "Texts that appear with conflicting gold labels: 51"
    _, *rows = md_table_after(md, caption)
    assert [r[0] for r in rows] == [f"conflicting text {i}" for i in range(10)]
    assert "_10 of 51 shown; all are in the results JSON._" in md
    collapsed = html[html.index("<details>") : html.index("</details>")]
    (table,) = Tree(collapsed).tables_of("duplicates")
    assert len(table["rows"]) == 1 + 51


def test_in_run_and_re_rendered_reports_agree_on_free_form_fields(tmp_path):
    """Parameters and environment values are free-form: a tuple in the run is a list in the JSON."""
    data = suite_document()
    data["environment"]["versions"]["torch"] = ("2.13.0", "cpu")
    evaluated_pair(data)["approach"]["params"]["ngram_range"] = (1, 2)
    doc = typed(data)
    in_run = [p.read_text(encoding="utf-8") for p in render_suite(doc, tmp_path / "run")]
    again = [p.read_text(encoding="utf-8") for p in render_suite(doc, tmp_path / "again")]
    saved = write_json(tmp_path / "saved" / "emotion.json", doc)
    assert report_main([str(saved)]) == 0
    re_rendered = [
        (saved.parent / name).read_text(encoding="utf-8") for name in ("emotion.md", "emotion.html")
    ]
    for a, b, c in zip(in_run, again, re_rendered, strict=True):
        assert without_render_time(a) == without_render_time(b) == without_render_time(c)
    assert "ngram\\_range=\\[1, 2\\]" in in_run[0]


# --- reports scale ---


@pytest.fixture
def figure_texts(monkeypatch):
    """The number of text artists of every figure drawn."""
    counts = []
    draw = figures.png

    def counting_png(fig):
        counts.append(len(fig.findobj(Text)))
        return draw(fig)

    monkeypatch.setattr(figures, "png", counting_png)
    return counts


def test_a_thousand_classes_give_bounded_reports(tmp_path, figure_texts):
    data = many_classes_document(n_classes=1000, n_examples=5000)
    md, html = render(data, tmp_path)
    assert len(md.encode()) < 1_000_000 and len(html.encode()) < 5_000_000
    assert figure_texts and max(figure_texts) < 300
    pairs = evaluated(data)
    tree = Tree(html)
    assert len([a for tag, a in tree.tags if a.get("class") == "confusion-matrix"]) == len(pairs)
    assert "gold \\ predicted" not in md and len(tree.tables_of("top-confusions")) == len(pairs)
    sections = md.split("\n### ")[-len(pairs) :]
    for section, pair in zip(sections, pairs, strict=True):
        matrix = np.array(pair["metrics"]["confusion_matrix"])
        np.fill_diagonal(matrix, 0)
        header, *rows = md_table_after(section, "Largest confusions")
        assert header == ["gold", "predicted", "share of gold", "texts"] and len(rows) == 20
        assert [float(r[2]) for r in rows] == sorted((float(r[2]) for r in rows), reverse=True)
        assert float(rows[-1][2]) == pytest.approx(np.sort(matrix, axis=None)[-20], abs=5e-4)
        support = pair["metrics"]["per_class"]
        for gold, predicted, share, texts in rows:
            i, j = pair["labels"].index(gold), pair["labels"].index(predicted)
            assert share == f"{matrix[i, j]:.3f}" and texts == str(
                round(matrix[i, j] * support[gold]["support"])
            )
        _, *rows = md_table_after(section, "Per class:")
        assert len(rows) == 50
        by_support = sorted(support, key=lambda label: -support[label]["support"])
        assert [r[0] for r in rows] == by_support[:25] + by_support[-25:]
        assert "1,000 classes: the 25 with the most support and the 25 with the fewest are shown" in section
    assert "_1,000 classes: the 25 with the most texts and the 25 with the fewest are shown" in md


def test_the_confusion_figure_drops_values_and_names_as_classes_grow(figure_texts):
    for n in (30, 31, 51):
        matrix = (np.eye(n) * 0.5 + 0.5 / n).tolist()
        assert confusion_matrix(matrix, [f"class {i}" for i in range(n)]).startswith(b"\x89PNG")
    annotated, labelled, indexed = figure_texts
    assert annotated > 30 * 30 and labelled < 200 and indexed < 40  # a value per cell; names; neither


def test_a_5_mb_text_gives_reports_under_1_mb(tmp_path):
    data = long_text_document(text_size=5_000_000, label_size=20_000)
    md, html = render(data, tmp_path)
    assert len(md.encode()) < 1_000_000 and len(html.encode()) < 1_000_000
    titles = [c["title"] for t in Tree(html).tables for row in t["rows"] for c in row if c["title"]]
    assert any(t.startswith("long yyy") for t in titles) and max(map(len, titles)) == FULL_TEXT_LIMIT
    assert "long " + "y" * (TEXT_LIMIT - 6) + "…" in md


def test_odd_but_valid_documents_still_render(tmp_path):
    """What the model accepts, the report shows: ragged matrices, free-form fields of any type."""
    data = minimal_document()
    pair = evaluated_pair(data)
    pair["metrics"]["confusion_matrix"] = [[1.0], [0.5, 0.5, 0.0]]
    pair["metrics"]["per_class"] = {}
    pair["timings"] = {"fit": 1e300, "predict": 1e-300, "score": 0.0, "export": "n/a"}
    pair["approach"]["name"] = "finetune"
    data["environment"].update(versions=["torch", 2], cpu_count="many", date=None)
    data["performance"] = [
        {"checkpoint": "c", "task": "inference", "texts_per_s": 1.5, "batch_size": 3, "peak_rss_mb": "lots"}
    ]
    md, html = render(data, tmp_path)
    assert "export n/a" in md and "lots" in md and "No performance records" not in md
    drawn = [a for tag, a in Tree(html).tags if tag == "img" and a["class"] == "confusion-matrix"]
    assert len(drawn) == len(evaluated(data)) - 1  # a ragged matrix is listed, not drawn
