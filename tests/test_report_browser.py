"""The HTML report in a real browser (headless Debian chromium): it draws, and hostile text stays text."""

import re
import shutil
import subprocess

import pytest
from matplotlib import image

from harness.report import render_suite
from harness.results import SuiteDocument, validate

from .report_fixture import hostile_document

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    return result


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    doc = hostile_document()
    _, html = render_suite(validate(doc, SuiteDocument), tmp_path_factory.mktemp("report"))
    return doc, html


def test_the_page_draws_something(report, tmp_path):
    _, html = report
    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", html.as_uri())
    pixels = image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels.std() > 0.05 and pixels.mean() < 0.98  # not blank, not all white


def test_the_dom_has_every_part_and_no_script_ran(report, tmp_path):
    doc, html = report
    dom = chromium(tmp_path, "--dump-dom", html.as_uri()).stdout
    evaluated = [p for p in doc["pairs"] if p["metrics"]]
    assert "<title>harness report: emotion</title>" in dom  # the hostile script would have changed it
    assert "<pwned-marker" not in dom  # ... or added this element
    assert (
        dom.index("<h2>Summary</h2>")
        < dom.index("<h2>Leaderboard</h2>")
        < dom.index("<h2>Dataset overview</h2>")
    )
    assert len(re.findall(r'<img class="confusion-matrix" src="data:image/png;base64,', dom)) == len(
        evaluated
    )
    assert len(re.findall(r'<table class="examples worst-loss">', dom)) == len(evaluated)
    assert len(re.findall(r'<table class="examples best-loss">', dom)) == len(evaluated)
    assert "&lt;script&gt;document.body.appendChild" in dom  # the text is there, as text
