"""The N shards of a ``--shard K/N`` run as one suite document per suite (``harness merge``).

Shards must be complete (every index 1..N of every suite of the plan, each once), of one plan, and
computed from the same code, data and baseline; anything else is one line naming the files.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from .io import ResultsError
from .model import SuiteDocument, Verdict
from .suite import suite_documents


class ShardsError(ResultsError):
    """Shard results that do not make one run: missing, duplicated, or from different code or data."""


def _short(digest: str | None) -> str:
    return "none" if digest is None else digest[:12]


def check_shards(documents: list[tuple[Path, SuiteDocument]]) -> None:
    """Raise :class:`ShardsError` unless ``documents`` are every shard of one run, each once."""
    if not documents:
        raise ShardsError("no results files given; expected the <suite>.json of every shard")
    for path, doc in documents:
        if doc.shard is None:
            raise ShardsError(f"{path}: not a shard's results (no 'shard'; run pytest with --shard K/N)")
        if doc.provenance is None:
            raise ShardsError(f"{path}: no 'provenance' (written by an older harness); run the shard again")
    first = documents[0]
    firsts: dict[str, tuple[Path, SuiteDocument]] = {}
    for path, doc in documents:
        _same_run(*first, path, doc)
        _same_run(*firsts.setdefault(doc.suite, (path, doc)), path, doc)  # the baseline is the suite's
    by_suite: dict[str, dict[int, Path]] = {}
    for path, doc in documents:
        seen = by_suite.setdefault(doc.suite, {})
        if doc.shard.index in seen:
            shard = f"{doc.shard.index}/{doc.shard.count}"
            raise ShardsError(f"{doc.suite}: shard {shard} given twice ({seen[doc.shard.index]}, {path})")
        seen[doc.shard.index] = path
    count = first[1].shard.count
    for suite in sorted(set(first[1].shard.suites) | set(by_suite)):
        have = by_suite.get(suite, {})
        missing = [str(i) for i in range(1, count + 1) if i not in have]
        if missing:
            got = ", ".join(f"{i}/{count}" for i in sorted(have)) or "none"
            raise ShardsError(f"{suite}: shard {', '.join(missing)} of {count} missing (given: {got})")
    _no_pair_twice(documents)


def _same_run(first_path: Path, first: SuiteDocument, path: Path, doc: SuiteDocument) -> None:
    a, b = first.shard, doc.shard
    if (a.count, a.plan) != (b.count, b.plan):
        raise ShardsError(
            f"{path}: shard {b.index}/{b.count} is not of the run of {first_path} (shard "
            f"{a.index}/{a.count}): its plan differs (other tests, options or --shard-costs)"
        )
    p, q = first.provenance, doc.provenance
    for what, x, y in (("commit", p.commit, q.commit), ("code", p.code, q.code)):
        if x != y:
            raise ShardsError(
                f"{path}: shard {b.index}/{b.count} ran other code than {first_path} "
                f"({what} {_short(y)} vs {_short(x)})"
            )
    if doc.suite == first.suite and p.baseline != q.baseline:
        raise ShardsError(
            f"{path}: shard {b.index}/{b.count} read another baseline than {first_path} "
            f"({_short(q.baseline)} vs {_short(p.baseline)})"
        )
    for name in sorted(set(p.data) & set(q.data)):
        if p.data[name] != q.data[name]:
            raise ShardsError(
                f"{path}: shard {b.index}/{b.count} read other data than {first_path}: dataset {name!r} "
                f"({_short(q.data[name])} vs {_short(p.data[name])})"
            )


def _no_pair_twice(documents: list[tuple[Path, SuiteDocument]]) -> None:
    seen: dict[tuple, Path] = {}
    for path, doc in documents:
        for pair in doc.pairs:
            key = (doc.suite, *pair.key)
            if key in seen:
                raise ShardsError(
                    f"{path}: {pair.title} was also run by {seen[key]}; expected shards that do not overlap"
                )
            seen[key] = path


def _fragment(doc: SuiteDocument) -> dict:
    """A shard's document as the data one process of a run hands over (:func:`suite_documents`)."""
    data = doc.to_json()
    keys = ("pairs", "datasets", "performance", "runtimes", "learning_curves", "tests", "provenance", "phases")
    part = {key: data[key] for key in keys}
    return {"environment": doc.environment, "cache": data["cache"], "suites": {doc.suite: part}}


def merge_shards(documents: list[tuple[Path, SuiteDocument]], compare) -> list[SuiteDocument]:
    """One document per suite from its complete shards (checked first), recomputing what spans them:
    comparisons of pairs from different shards, cache totals; each keeps the shards it came from."""
    check_shards(documents)
    run_id = uuid.uuid4().hex[:12]
    merged = []
    for suite in sorted({doc.suite for _, doc in documents}):
        shards = sorted((doc for _, doc in documents if doc.suite == suite), key=lambda d: d.shard.index)
        (doc,) = suite_documents([_fragment(shard) for shard in shards], run_id, compare=compare)
        doc.shards = [
            s.shard.model_copy(update={"ran": len(s.tests), "run_id": s.run_id, "environment": s.environment})
            for s in shards
        ]
        doc.verdict = merged_verdict(shards)
        merged.append(doc)
    return merged


def merged_verdict(shards: list[SuiteDocument]) -> Verdict | None:
    """The shards' verdicts as one: tests counted together, every failure and unfinished test kept;
    incomplete when any shard was or ran fewer tests than the plan gave it, else failed when any failed. None when a shard
    recorded no verdict (it cannot be judged by its tests)."""
    verdicts = [s.verdict for s in shards]
    if any(v is None for v in verdicts):
        return None
    tests: dict[str, int] = {}
    for v in verdicts:
        for outcome, n in v.tests.items():
            tests[outcome] = tests.get(outcome, 0) + n
    stopped = [f"shard {s.shard.index}/{s.shard.count}: {s.verdict.reason or 'incomplete'}"
               for s in shards if s.verdict.status == "incomplete"]
    stopped += [f"shard {s.shard.index}/{s.shard.count}: ran {len(s.tests)} of its {s.shard.assigned} tests"
                for s in shards if s.verdict.status != "incomplete" and len(s.tests) < s.shard.assigned]
    status = "incomplete" if stopped else "failed" if any(v.status == "failed" for v in verdicts) else "passed"
    return Verdict(
        status=status,
        reason="; ".join(stopped) or None,
        tests=tests,
        failures=[f for v in verdicts for f in v.failures],
        unfinished=[u for v in verdicts for u in v.unfinished],
    )


def failures(doc: SuiteDocument) -> list[str]:
    """What fails the merged run, as ``pytest --benchmark`` over the whole would: failed tests, failed
    pairs, gates, baseline and timing regressions, runtimes and curve points."""
    found = [f"test {t.nodeid} failed" for t in doc.tests if t.outcome == "failed"]
    found += [f"shard {s.index}/{s.count} ran {s.ran} of its {s.assigned} tests: it stopped early"
              for s in doc.shards if (s.ran or 0) < s.assigned]
    for pair in doc.pairs:
        if pair.status == "failed" or not all(g.passed for g in pair.gates):
            found.append(f"{pair.title}: {pair.reason or 'a gate failed'}")
        elif pair.baseline is not None and pair.baseline.status == "regressed":
            found.append(f"{pair.title}: below the baseline")
    found += [f"timing {r.checkpoint} {r.task} {r.device} {r.dtype}: below the baseline"
              for r in doc.performance if r.baseline and r.baseline.get("passed") is False]
    found += [f"runtime {r.checkpoint} · {r.approach} · {r.runtime}: {r.reason}" for r in doc.runtimes
              if r.status == "failed"]
    found += [f"curve {p.approach} · {p.shots}: {p.reason}" for p in doc.learning_curves
              if p.status == "failed"]
    return found
