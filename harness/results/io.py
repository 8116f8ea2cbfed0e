"""Reading and writing results files: the one validator and the one atomic writer.

Errors are one line naming the file and the JSON path:
``reports/emotion.json: pairs[3].metrics.accuracy: expected a number, got "x"``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from ..errors import HarnessError
from .model import SCHEMA_VERSION, Model

M = TypeVar("M", bound=Model)
MAX_BYTES = 2 * 1024**3  # a results file larger than this is not one the harness wrote
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ResultsError(HarnessError, ValueError):
    """A results, baseline or comparison file that is not what docs/results.md describes."""


def json_path(parts) -> str:
    """``["pairs", 3, "metrics"]`` → ``pairs[3].metrics``; other keys are quoted: ``splits["my split"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out or "(top level)"


def _shown(value) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


_EXPECTED = {
    "float_type": "a number",
    "finite_number": "a finite number",
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _problem(error: dict) -> str:
    kind, ctx, got = error["type"], error.get("ctx") or {}, _shown(error.get("input"))
    if kind == "missing":
        return f"missing key {error['loc'][-1]!r}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": "at least", "greater_than": "above", "less_than_equal": "at most",
                 "less_than": "below"}[kind]
        limit = next(iter(ctx.values()), "?")
        return f"expected a number {bound} {limit}, got {got}"
    if kind in ("too_short", "too_long"):
        return f"expected {error['msg'].split('should have ', 1)[-1].split(' after')[0]}, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', '?')}, got {got}"
    if kind == "none_required":
        return f"expected null, got {got}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {got}"


def _first_error(error: ValidationError) -> tuple[list, str]:
    """The most useful error of a validation failure: for a value that may be null, not 'expected null'."""
    errors = error.errors(include_url=False)
    chosen = next((e for e in errors if e["type"] != "none_required"), errors[0])
    loc = [part for part in chosen["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
    return loc, _problem(chosen)


def validate(data, model: type[M], source: str = "document") -> M:
    """Check already-parsed data against ``model``; return the typed object or raise :class:`ResultsError`."""
    if isinstance(data, dict):
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION and isinstance(version, int) and not isinstance(version, bool):
            raise ResultsError(
                f"{source}: written by schema {version}, this is {SCHEMA_VERSION}; re-run the suite to "
                "write it again, or convert it"
            )
    try:
        document = model.model_validate(data)
    except ValidationError as e:
        loc, problem = _first_error(e)
        raise ResultsError(f"{source}: {json_path(loc)}: {problem}") from None
    check = getattr(document, "inconsistency", None)
    problem = check() if check else None
    if problem is not None:
        raise ResultsError(f"{source}: {json_path(problem[0])}: {problem[1]}")
    return document


def read_json(path: str | Path, model: type[M]) -> M:
    """Read and validate a results file (a regular file under :data:`MAX_BYTES`)."""
    path = Path(path)
    try:
        info = path.stat()
        if not path.is_file():
            raise ResultsError(f"{path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise ResultsError(f"{path}: {info.st_size} bytes; expected a results file under {MAX_BYTES}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except OSError as e:
        raise ResultsError(f"{path}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ResultsError(f"{path}: not UTF-8 (byte {e.start})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    except RecursionError:
        raise ResultsError(f"{path}: nested too deeply; expected a results document") from None
    except ValueError as e:  # NaN, Infinity, or an integer too long to convert
        raise ResultsError(f"{path}: {e}") from None
    return validate(data, model, str(path))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows; expected finite numbers")


def dumps(data) -> str:
    if isinstance(data, Model):
        data = data.to_json()
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def write_text(path: str | Path, text: str) -> Path:
    """Write atomically: a temporary file in the same folder, flushed, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data) -> Path:
    """Write a model (or JSON-ready data) atomically as indented UTF-8 JSON."""
    return write_text(path, dumps(data))
