"""Reading and writing results files: the one validator and the one atomic writer.

Errors are one line naming the file and the JSON path:
``reports/emotion.json: pairs[3].metrics.accuracy: expected a number, got "x"``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import sys
import tempfile
import types
from pathlib import Path
from typing import Annotated, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import HarnessError
from .model import SCHEMA_VERSION, Model

M = TypeVar("M", bound=Model)
MAX_BYTES = 2 * 1024**3  # a results file larger than this is not one the harness wrote
MAX_DEPTH = 64  # the harness's own documents nest under 10 levels; pydantic stops serializing at 255
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNIONS = (Union, types.UnionType)
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON can escape them; UTF-8 cannot write them


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
            out += f"[{_printable(json.dumps(str(part), ensure_ascii=False))}]"
    return out or "(top level)"


def _printable(text: str) -> str:
    """``text`` with unpaired surrogates written as ``\\udXXX``, so that a message can be printed."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _shown(value) -> str:
    try:
        text = _printable(json.dumps(value, ensure_ascii=False, default=str))
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
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"expected a non-empty string, got {got}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {got}"


def _allows_null(model: type[BaseModel], loc: list) -> bool:
    """Whether the value at ``loc`` inside ``model`` may be null (pydantic's error does not say)."""
    annotation = model
    for part in loc:
        annotation = _non_null(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return False
            annotation = field.annotation
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return False
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return get_origin(annotation) in _UNIONS and type(None) in get_args(annotation)


def _non_null(annotation):
    """``X | None`` → ``X``, ``Annotated[X, ...]`` → ``X``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in _UNIONS and type(None) in get_args(annotation):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _first_error(error: ValidationError, model: type[BaseModel]) -> tuple[list, str]:
    """The most useful error of a validation failure, saying so when null would also do."""
    errors = error.errors(include_url=False)
    chosen = next((e for e in errors if e["type"] != "none_required"), errors[0])
    loc = [part for part in chosen["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
    problem = _problem(chosen)
    if loc[-1:] == ["[key]"]:  # a key the object may not have: name the object, then the key
        expected = problem.rsplit(", got ", 1)[0]
        return loc[:-2], f"key {_shown(loc[-2])} is not allowed; {expected}"
    if chosen["input"] is not None and _allows_null(model, loc) and ", got " in problem:
        expected, got = problem.rsplit(", got ", 1)
        problem = f"{expected} or null, got {got}"
    return loc, problem


def _unsafe(data) -> tuple[list, str] | None:
    """The first value the model keeps as it is but no results file may hold, as (path, message): a
    number that is not finite (typed fields reject it already; extra keys are not typed), text with
    an unpaired surrogate (UTF-8 cannot write it back), or nesting deeper than :data:`MAX_DEPTH`."""
    stack = [(data, [])] if isinstance(data, (dict, list)) else []
    while stack:
        value, path = stack.pop()
        if len(path) >= MAX_DEPTH:
            return path[:3], f"nested more than {MAX_DEPTH} levels deep; expected a results document"
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return [*path, key], f"expected text, got an unpaired surrogate in {_shown(key)}"
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(item, float):
                if not math.isfinite(item):
                    return [*path, key], f"expected a finite number, got {_shown(item)}"
            elif isinstance(item, str):
                if _SURROGATE.search(item):
                    return [*path, key], f"expected text, got an unpaired surrogate in {_shown(item)}"
            elif isinstance(item, (dict, list)):
                stack.append((item, [*path, key]))
    return None


def validate(data, model: type[M], source: str = "document") -> M:
    """Check already-parsed data against ``model``; return the typed object or raise :class:`ResultsError`."""
    if isinstance(data, dict):
        version = data.get("schema_version", SCHEMA_VERSION)
        if type(version) is not int:  # pydantic's Literal[1] would take true and 1.0 for 1
            raise ResultsError(f"{source}: schema_version: expected {SCHEMA_VERSION}, got {_shown(version)}")
        if version != SCHEMA_VERSION:
            raise ResultsError(
                f"{source}: written by schema {version}, this is {SCHEMA_VERSION}; re-run the suite to "
                "write it again, or convert it"
            )
    try:
        document = model.model_validate(data)
    except ValidationError as e:
        loc, problem = _first_error(e, model)
        raise ResultsError(f"{source}: {json_path(loc)}: {problem}") from None
    problem = _unsafe(data)
    if problem is None:
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
        data = json.loads(text)  # NaN and Infinity are read, then rejected with their place by validate
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    except RecursionError:
        raise ResultsError(f"{path}: nested too deeply; expected a results document") from None
    except ValueError:  # only an integer longer than Python converts (JSONDecodeError is caught above)
        limit = sys.get_int_max_str_digits()
        raise ResultsError(
            f"{path}: an integer of more than {limit} digits; expected a results document"
        ) from None
    return validate(data, model, str(path))


def dumps(data) -> str:
    if isinstance(data, Model):
        data = data.to_json()
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def usual_mode(directory: bool = False) -> int:
    """The permissions the user's umask gives a new file (or directory); temporary files and
    directories are created owner-only, and what the harness keeps gets these instead."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def write_text(path: str | Path, text: str) -> Path:
    """Write atomically: a temporary file in the same folder, flushed, then renamed over ``path``, with
    the permissions the umask gives (not the temporary file's owner-only ones)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the folder should be: say so, not "File exists"
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, usual_mode())
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
