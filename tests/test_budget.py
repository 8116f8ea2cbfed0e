"""Where the time went: phases keep their own time (nested phases counted once), their pair, split and
whether the cache answered; the report and the terminal show them by cost."""

import itertools

import numpy as np
import pytest

from harness.engine import budget
from harness.engine.budget import Budget, for_pair, phase
from harness.engine.cache import Cache
from harness.engine.runtime import Runtime
from harness.report import render_suite
from harness.report.budget import phase_totals
from harness.report.cells import title
from harness.report.table import costliest_phases
from harness.results import SuiteDocument
from harness.results.model import PhaseRecord

from .report_fixture import MINILM, suite_document


@pytest.fixture
def clock(monkeypatch):
    """perf_counter advancing one second per call: durations are counts of clock reads."""
    ticks = itertools.count()
    monkeypatch.setattr(budget.time, "perf_counter", lambda: float(next(ticks)))


def test_nested_phases_keep_their_own_time_pair_and_split(clock):
    with Budget().active() as run:
        with for_pair("s", "ckpt", "features-logreg", detail="32/class · seed 1"):
            with phase("fit", split="train"):  # reads the clock at 0 ...
                with phase("feature extraction"):  # 1 ... 2: one second
                    pass
            # ... and at 3: three seconds, one of them the extraction's
        with phase("dataset load"):
            pass
    extraction, fit, load = run.phases
    assert extraction == {"phase": "feature extraction", "split": "train", "seconds": 1.0, "cached": None,
                          "suite": "s", "checkpoint": "ckpt", "approach": "features-logreg",
                          "detail": "32/class · seed 1"}
    assert (fit["phase"], fit["seconds"], fit["split"]) == ("fit", 2.0, "train")
    assert load == {"phase": "dataset load", "split": None, "seconds": 1.0, "cached": None}


def test_a_budget_records_only_while_it_is_active():
    with Budget().active() as run:
        with phase("fit"):
            pass
    with phase("predict") as open_phase:
        open_phase.cached = True
    assert [p["phase"] for p in run.phases] == ["fit"]


def test_a_cache_hit_marks_the_phase_that_asked(tmp_path):
    runtime = Runtime(cache=Cache(tmp_path, "use"))
    computed = []

    def compute():
        computed.append(1)
        return {"x": np.arange(3)}, {}

    with Budget().active() as run:
        for _ in range(2):
            with phase("feature extraction"):
                runtime.cached_arrays("features", {"texts": "abc"}, compute)
        with phase("score"):
            pass
    assert len(computed) == 1
    assert [p["cached"] for p in run.phases] == [False, True, None]


def test_totals_and_the_terminal_list_the_most_expensive_phases_first():
    pair = {"suite": "s", "checkpoint": "org/m", "approach": "setfit"}
    phases = [PhaseRecord(phase="fit", seconds=s, split="train", **pair) for s in (100.0, 50.0)]
    phases += [PhaseRecord(phase=f"phase {i}", seconds=float(i), suite="s") for i in range(1, 8)]
    phases.append(PhaseRecord(phase="predict", seconds=40.0, cached=True, **pair))
    totals = phase_totals(phases)
    assert (totals[0].label, totals[0].seconds, totals[0].runs) == ("fit (train)", 150.0, 2)
    assert [t.seconds for t in totals] == sorted((t.seconds for t in totals), reverse=True)
    text = costliest_phases(phases)
    lines = text.splitlines()
    assert lines[0].startswith("where the time went: the 5 most expensive of")
    rows = lines[3:]
    assert len(rows) == 5 and "fit (train)" in rows[0] and "2.5 min" in rows[0] and "1/1" in rows[1]
    assert "phase 7" in rows[2] and "phase 3" not in text


def test_the_report_has_a_where_the_time_went_section(tmp_path):
    doc = SuiteDocument.model_validate(suite_document())
    md, page = (path.read_text(encoding="utf-8") for path in render_suite(doc, tmp_path))
    section = md.split("## Where the time went\n\n", 1)[1]
    rows = [line.split("|")[1:3] for line in section.splitlines()[4:] if line.startswith("|")]
    cells = [(pair.strip(), name.strip()) for pair, name in rows]
    assert cells[0] == (title(MINILM, "features-logreg-mean"), "feature extraction (train)")
    cached = (title(MINILM, "features-logreg-cls"), "predictions cache (validation)")
    assert cells[-2:] == [("run", "dataset load"), cached]
    assert "138.9 s in all" in section
    html = page.split('<section id="time-budget">', 1)[1].split("</section>", 1)[0]
    assert 'class="time-budget" src="data:image/png;base64,' in html and "speed rounds" in html


def test_a_document_without_phases_has_no_such_section(tmp_path):
    data = suite_document()
    del data["phases"]
    doc = SuiteDocument.model_validate(data)
    md, page = (path.read_text(encoding="utf-8") for path in render_suite(doc, tmp_path))
    assert "Where the time went" not in md + page


def _budget_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "main_job_budget.py"
    spec = importlib.util.spec_from_file_location("main_job_budget", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_budget_script_times_cold_then_warm_and_checks_the_targets(tmp_path, monkeypatch):
    """scripts/main_job_budget.py runs the main job twice on one empty cache of its own and judges the
    wall times and the fine-tune's share of the GEMM peak against the targets (here: a fake ./run)."""
    import json

    script = _budget_script()
    caches, seconds = [], iter([800.0, 45.0])

    def fake_run(reports, cache, extra):
        caches.append(cache)
        reports.mkdir(parents=True)
        pair = {"checkpoint": "m", "approach": {"id": "finetune"},
                "training_throughput": {"peak_fraction": 0.52, "gflops": 520.0, "gemm_peak_gflops": 1000.0,
                                        "dtype": "bf16", "train_s": 100.0}}
        doc = {"suite": "s", "verdict": {"status": "passed"}, "pairs": [pair],
               "phases": [{"phase": "fit", "seconds": 100.0, "checkpoint": "m", "approach": "finetune"},
                          {"phase": "speed rounds", "seconds": 20.0, "checkpoint": "m"}]}
        (reports / "s.json").write_text(json.dumps(doc))
        return next(seconds), 0

    monkeypatch.setattr(script, "run_main", fake_run)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "stale").write_text("an earlier run's entry")
    assert script.main(["--out", str(tmp_path)]) == 0
    assert caches == [tmp_path / "cache"] * 2 and not (tmp_path / "cache" / "stale").exists()
    budget = json.loads((tmp_path / "budget.json").read_text())
    assert {name: t["met"] for name, t in budget["targets"].items()} == {
        "cold": True, "fine-tune peak fraction": True, "warm": True}
    assert budget["runs"]["cold"]["phases"][0] == {"seconds": 100.0, "phase": "s · m · finetune · fit"}
    seconds = iter([800.0, 61.0])
    assert script.main(["--out", str(tmp_path)]) == 1  # a warm run over 60 s misses its target
    monkeypatch.setattr(script, "training", lambda docs: [])
    seconds = iter([800.0, 45.0])
    assert script.main(["--out", str(tmp_path)]) == 1  # no fine-tune measured: its target is not met
    budget = json.loads((tmp_path / "budget.json").read_text())
    assert budget["targets"]["fine-tune peak fraction"] == {"value": None, "limit": 0.5, "met": False}
