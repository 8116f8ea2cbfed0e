"""Results files are untrusted input: validate them on load (format: ``docs/results.md``).

``load_json(path, "pair")`` reads a pair record, ``load_json(path, "suite")`` a suite results file.
The stable keys must be present with their documented types; the other documented keys are typed
when present; extra keys are allowed. On top of the JSON Schema, the facts a renderer indexes by
are checked: label ids lie within ``labels``, per-example arrays have ``n_examples`` entries.
The first problem is a one-line :class:`ResultsFileError` naming the file and the JSON path:
``reports/emotion.json: pairs[3].metrics.accuracy: expected a number, got "x"``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from .results import SCHEMA_VERSION

SUITE_KIND = "harness.suite"


class ResultsFileError(ValueError):
    """A results file that is not what docs/results.md describes; the message is one line."""


STRING = {"type": "string"}
STRING_OR_NULL = {"type": ["string", "null"]}
NUMBER = {"type": "number"}
COUNT = {"type": "integer", "minimum": 0}
COUNT_OR_NULL = {"type": ["integer", "null"], "minimum": 0}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}
BOOLEAN = {"type": "boolean"}
OBJECT = {"type": "object"}
INTERVAL = {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2}


def _object(required: tuple[str, ...] = (), nullable: bool = False, **properties) -> dict:
    """An object schema: ``required`` keys, ``properties`` typed (required or not), extra keys allowed."""
    return {
        "type": ["object", "null"] if nullable else "object",
        "required": list(required),
        "properties": properties,
    }


def _array(items: dict) -> dict:
    return {"type": "array", "items": items}


def _mapping(values: dict) -> dict:
    """An object whose keys are names (labels, splits, checkpoint ids) and whose values are ``values``."""
    return {"type": "object", "additionalProperties": values}


EXAMPLE = _object(
    ("index", "text", "gold", "predicted"),
    index=COUNT,
    text=STRING,
    gold=STRING,
    predicted=STRING,
    loss=NUMBER,
    p_gold=SHARE,
)

METRICS = _object(
    ("accuracy", "f1_weighted", "f1_macro"),
    nullable=True,
    accuracy=SHARE,
    f1_weighted=SHARE,
    f1_macro=SHARE,
    loss_mean=NUMBER,
    per_class=_mapping(_object(precision=SHARE, recall=SHARE, f1=SHARE, support=COUNT)),
    confusion_matrix=_array(_array(SHARE)),
    ci=_object(level=SHARE, n_resamples=COUNT, accuracy=INTERVAL, f1_weighted=INTERVAL, f1_macro=INTERVAL),
    ece=NUMBER,
    brier=NUMBER,
)

PAIR = _object(
    (
        "schema_version",
        "suite",
        "checkpoint",
        "approach",
        "status",
        "reason",
        "split",
        "n_examples",
        "metrics",
        "timings",
    ),
    schema_version={"const": SCHEMA_VERSION},
    suite=STRING,
    checkpoint=STRING,
    approach=_object(
        ("name", "variant", "id", "params"), name=STRING, variant=STRING_OR_NULL, id=STRING, params=OBJECT
    ),
    status={"enum": ["passed", "failed", "skipped"]},
    reason=STRING_OR_NULL,
    gates=_array(
        _object(
            ("metric", "threshold", "value", "passed"),
            metric=STRING,
            threshold=NUMBER,
            value=NUMBER,
            passed=BOOLEAN,
        )
    ),
    split=STRING_OR_NULL,
    n_examples=COUNT_OR_NULL,
    metrics=METRICS,
    timings=_object(("fit", "predict", "score"), nullable=True, fit=NUMBER, predict=NUMBER, score=NUMBER),
    environment=OBJECT,
    dataset=STRING,
    checkpoint_source=_object(("kind", "location"), kind=STRING, location=STRING),
    train_split=STRING,
    n_truncated=COUNT_OR_NULL,
    labels=_array(STRING),
    eval_fingerprint=STRING,
    examples=_object(worst_loss=_array(EXAMPLE), best_loss=_array(EXAMPLE)),
    cached=BOOLEAN,
    training_history={"type": ["array", "null"], "items": OBJECT},
    predictions=_object(
        ("gold", "predicted"),
        gold=_array(COUNT),
        predicted=_array(COUNT),
        loss=_array(NUMBER),
        proba=_array(_array(SHARE)),
    ),
    calibration=_object(
        n_bins=COUNT,
        bins=_array(_object(low=NUMBER, high=NUMBER, count=COUNT, confidence=NUMBER, accuracy=NUMBER)),
    ),
    label_suspects=_object(per_class=_mapping(COUNT), examples=_array(_object(index=COUNT, text=STRING))),
    baseline=_object(
        ("status",),
        status={"enum": ["new", "ok", "regressed"]},
        checks=_array(_object(metric=STRING, passed=BOOLEAN)),
    ),
)
PAIR["dependentRequired"] = {"predictions": ["labels", "n_examples"]}

DATASET_OVERVIEW = _object(
    ("name", "labels", "splits"),
    name=STRING,
    labels=_array(STRING),
    splits=_mapping(_object(("n", "class_counts"), n=COUNT, class_counts=_mapping(COUNT))),
    duplicates=_object(
        n_conflicting=COUNT,
        examples=_array(
            _object(("text", "labels"), text=STRING, labels=_array(_object(split=STRING, label=STRING)))
        ),
    ),
    token_lengths=_mapping(
        _object(
            split=STRING,
            max_length=COUNT,
            per_class=_mapping(_object(("n",), n=COUNT, mean=NUMBER, med=NUMBER)),
            n_exceeding=_mapping(COUNT),
        )
    ),
)

TIMING = _object(
    ("checkpoint", "task", "texts_per_s"),
    checkpoint=STRING,
    task=STRING,
    device=STRING,
    batch_size=COUNT,
    n_texts=COUNT,
    texts_per_s=NUMBER,
    tokens_per_s=NUMBER,
    latency_ms=_mapping(NUMBER),
)

SIDE = _object(("checkpoint", "approach"), checkpoint=STRING, approach=STRING)
COMPARISON = _object(
    ("a", "b", "metric", "a_value", "b_value", "difference"),
    a=SIDE,
    b=SIDE,
    metric=STRING,
    a_value=NUMBER,
    b_value=NUMBER,
    difference=NUMBER,
    ci=INTERVAL,
    mcnemar_p=SHARE,
    n_discordant=_array(COUNT),
    n_examples=COUNT,
    winner={"enum": ["a", "b", None]},
)

SUITE = _object(
    ("schema_version", "kind", "suite", "run_id", "environment", "datasets", "pairs", "performance")
    + ("comparisons",),
    schema_version={"const": SCHEMA_VERSION},
    kind={"const": SUITE_KIND},
    suite=STRING,
    run_id=STRING,
    environment=OBJECT,
    cache=_object(mode={"enum": ["use", "refresh", "off"]}, hits=COUNT, stores=COUNT),
    datasets=_mapping(DATASET_OVERVIEW),
    pairs=_array(PAIR),
    performance=_array(TIMING),
    comparisons=_array(COMPARISON),
)

SCHEMAS = {"pair": PAIR, "suite": SUITE}
_VALIDATORS = {kind: jsonschema.Draft202012Validator(schema) for kind, schema in SCHEMAS.items()}
_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


def load_json(path: str | Path, kind: str) -> dict:
    """Read and validate a results file; ``kind`` is ``"pair"`` or ``"suite"``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ResultsFileError(f"{path}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ResultsFileError(f"{path}: not UTF-8 (byte {e.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultsFileError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    return validate(document, kind, str(path))


def validate(document, kind: str, source: str = "document") -> dict:
    """Check an already parsed results document; return it, or raise :class:`ResultsFileError`."""
    if kind not in SCHEMAS:
        raise ValueError(f"kind {kind!r}: expected one of {sorted(SCHEMAS)}")
    error = jsonschema.exceptions.best_match(_VALIDATORS[kind].iter_errors(document))
    if error is not None:
        raise ResultsFileError(f"{source}: {json_path(error.absolute_path)}: {_problem(error)}")
    records = (
        [(["pairs", i], pair) for i, pair in enumerate(document["pairs"])]
        if kind == "suite"
        else [([], document)]
    )
    for where, record in records:
        problem = _pair_inconsistency(record)
        if problem is not None:
            tail, message = problem
            raise ResultsFileError(f"{source}: {json_path(where + tail)}: {message}")
    return document


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_path(parts) -> str:
    """``["pairs", 3, "metrics"]`` → ``pairs[3].metrics``; other keys are quoted: ``splits["my split"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out or "(top level)"


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(error: jsonschema.ValidationError) -> str:
    """What was expected and what was found, in words."""
    got = _shown(error.instance)
    if error.validator == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"expected {' or '.join(_TYPE_NAMES[t] for t in types)}, got {got}"
    if error.validator == "required":
        missing = next(k for k in error.validator_value if k not in error.instance)
        return f"missing key {missing!r}"
    if error.validator == "dependentRequired":
        for key, needed in error.validator_value.items():
            missing = [k for k in needed if key in error.instance and k not in error.instance]
            if missing:
                return f"missing key {missing[0]!r} (needed with {key!r})"
    if error.validator == "const":
        return f"expected {_shown(error.validator_value)}, got {got}"
    if error.validator == "enum":
        return f"expected one of {', '.join(map(_shown, error.validator_value))}, got {got}"
    if error.validator in ("minimum", "maximum"):
        bound = "at least" if error.validator == "minimum" else "at most"
        return f"expected a number {bound} {error.validator_value}, got {got}"
    if error.validator in ("minItems", "maxItems"):
        return f"expected a list of {error.schema.get('minItems')} items, got {got}"
    return f"{error.message}"  # pragma: no cover - every keyword used above is handled


def _pair_inconsistency(record: dict) -> tuple[list, str] | None:
    """The first place where a pair record contradicts itself, as (path, message)."""
    predictions = record.get("predictions")
    if not predictions:
        return None
    n_labels, n = len(record["labels"]), record["n_examples"]
    if n is None:
        return ["n_examples"], "expected the number of examples (predictions are present), got null"
    for key in ("gold", "predicted", "loss", "proba"):
        values = predictions.get(key)
        if values is not None and len(values) != n:
            return ["predictions", key], f"expected {n} entries (n_examples), got {len(values)}"
    for key in ("gold", "predicted"):
        for i, label_id in enumerate(predictions[key]):
            if label_id >= n_labels:
                return [
                    "predictions",
                    key,
                    i,
                ], f"expected a label id below {n_labels} (labels), got {label_id}"
    for i, row in enumerate(predictions.get("proba") or []):
        if len(row) != n_labels:
            return ["predictions", "proba", i], f"expected {n_labels} probabilities (labels), got {len(row)}"
    return None
