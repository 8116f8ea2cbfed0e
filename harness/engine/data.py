"""Datasets: a ``DatasetDict`` with a ``text`` column and a ``ClassLabel`` ``label`` column.

A dataset comes from a hub id (``datasets.load_dataset``) or from a local directory holding
one file per split (``<split>.txt|.csv|.jsonl|.parquet``). A *bare name* (``emotion``) resolves to
``<data_dir>/<name>/`` when a data directory is configured and holds it, else to the hub (a known name
to its hub id); a folder of the working directory is never read for it. A local folder is given as a
path: ``./emotion``, ``../x``, ``~/x``, an absolute path or a ``Path``.

Bad input gets a one-line :class:`DatasetError` naming the file and line (or row, or field); no row
is skipped or altered. Documented choices:

- a dataset folder is untrusted: a split file is read only if it is a regular file whose real path
  lies inside the folder (a link to a file inside is fine; one pointing outside is refused unread, and
  its content is never quoted); a FIFO, device, socket or directory is refused without being opened;
  a file over ``HARNESS_MAX_FILE_MB`` MiB (default 2048) is refused;
- a text may be any length within that cap: models read a bounded prefix of it (``inference.py``);
- files are UTF-8; a leading byte-order mark is not part of the first text;
- every example needs a text that is not blank, and a label: a non-empty name, or an integer id
  (``.jsonl`` / ``.parquet``; in ``.txt`` / ``.csv`` every label is a name); the labels of one file
  are all names or all ids, and so are a dataset's when its label names are not declared;
- in a ``.parquet`` file a null is reported first (pandas writes an integer column with a missing
  value as floats, and the first float would otherwise take the blame);
- ``.txt`` lines end in ``\n`` or ``\r\n``; a ``\r`` elsewhere in a line is an error (a file with
  ``\r``-only line ends would otherwise merge its rows); use ``.jsonl`` for texts with line breaks;
- a blank line is an error in every format (in a ``.csv`` file written by pandas, a text holding
  a ``\r`` is not quoted, and the ``\r`` would end a record);
- undeclared label names are sorted, numerically when they are all integers (``"2"`` before ``"10"``).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import datasets

from ..errors import HarnessError

SUFFIXES = (".txt", ".csv", ".jsonl", ".parquet")
MAX_FILE_MB = 2048  # default cap on one dataset file, in MiB; HARNESS_MAX_FILE_MB overrides it


class DatasetError(HarnessError, ValueError):
    """A dataset that cannot be read as declared; the message names the file/field."""


@dataclass(frozen=True)
class KnownDataset:
    """A dataset the harness knows by name: its hub id and its declared label order."""

    hub_id: str
    labels: tuple[str, ...]
    hub_config: str | None = None


KNOWN_DATASETS: dict[str, KnownDataset] = {
    "emotion": KnownDataset(
        hub_id="dair-ai/emotion",
        labels=("sadness", "joy", "love", "anger", "fear", "surprise"),
    ),
}


@dataclass(frozen=True)
class DataSource:
    """Where a dataset was read from: ``kind`` is ``local`` (an absolute directory) or ``hub`` (an id)."""

    name: str
    kind: str
    location: str


@dataclass
class _Rows:
    texts: list[str]
    labels: list
    where: list[str]  # "file:line" or "file row N", for error messages


def is_path(name: str | os.PathLike) -> bool:
    """Whether ``name`` is written as a path: a ``Path``, absolute, or starting with ``.`` or ``~``."""
    return isinstance(name, os.PathLike) or Path(name).is_absolute() or name.startswith((".", "~"))


def resolve_source(name: str | os.PathLike, data_dir: str | Path | None = None) -> DataSource:
    """Decide where ``name`` is read from: the directory it names, ``<data_dir>/<name>``, or the hub.

    A name written as a path (:func:`is_path`) must be a directory; a bare name is looked for under
    ``data_dir`` only, never in the working directory. A local location is absolute, links resolved.
    """
    if is_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise DatasetError(
                f"{path}: no such directory; expected a directory holding <split>.txt|.csv|..."
            )
        return DataSource(path.name or path.resolve().name, "local", str(path.resolve()))
    if data_dir is not None:
        candidate = Path(data_dir).expanduser() / name
        if candidate.is_dir():
            return DataSource(name, "local", str(candidate.resolve()))
    known = KNOWN_DATASETS.get(name)
    return DataSource(name, "hub", known.hub_id if known else name)


def load_dataset(
    name: str | os.PathLike,
    data_dir: str | Path | None = None,
    labels: list[str] | tuple[str, ...] | None = None,
) -> datasets.DatasetDict:
    """Load ``name`` (known name, hub id or a path to a local directory) as a ``DatasetDict``.

    ``labels`` declares the label order; for a known dataset it defaults to the hub order.
    """
    source = resolve_source(name, data_dir)
    known = KNOWN_DATASETS.get(source.name) or KNOWN_DATASETS.get(name)
    if labels is None and known is not None:
        labels = known.labels
    if source.kind == "local":
        return load_local(source.location, labels)
    mirror = Path(data_dir).expanduser() / name if data_dir is not None else None
    return load_hub(source.location, labels, known.hub_config if known else None, mirror)


def load_local(directory: str | Path, labels=None) -> datasets.DatasetDict:
    """Read one file per split from ``directory``; label names keep the declared order."""
    directory = Path(directory)
    files = split_files(directory)
    rows = {split: read_split(path, directory) for split, path in files.items()}
    names = list(labels) if labels is not None else infer_label_names(rows)
    check_label_names(names, f"labels of {directory}")
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {"text": r.texts, "label": encode_labels(r, names)}, features=features
            )
            for split, r in rows.items()
        }
    )


def load_hub(
    hub_id: str, labels=None, config: str | None = None, mirror: Path | None = None
) -> datasets.DatasetDict:
    """Load from the hub and check the ``text``/``label`` columns against the declared labels.

    ``mirror`` is the local directory that was looked for first, named in the error. A relative id is
    looked up on the hub only: ``datasets`` would read a folder of that name in the working directory.
    An absolute path is a directory ``datasets`` reads like a hub repository.
    """
    if labels is not None:
        check_label_names(list(labels), f"labels of {hub_id}")
    remote = hub_id if Path(hub_id).is_absolute() else f"hf://datasets/{hub_id}"
    try:
        loaded = datasets.load_dataset(remote, config)
    except (ConnectionError, FileNotFoundError, OSError, ValueError) as e:
        local = (
            f"no local mirror at {mirror}"
            if mirror is not None
            else "for a local mirror set HARNESS_DATA_DIR (or --data-dir) to a directory holding "
            "<name>/<split>.txt"
        )
        reason = _first_line(e)
        raise DatasetError(f"dataset {hub_id!r} cannot be loaded from the hub ({reason}); {local}") from e
    for split, ds in loaded.items():
        missing = {"text", "label"} - set(ds.column_names)
        if missing:
            raise DatasetError(
                f"{hub_id} split {split!r}: missing column(s) {sorted(missing)}; has {ds.column_names}"
            )
    feature = loaded[next(iter(loaded))].features["label"]
    if not isinstance(feature, datasets.ClassLabel):  # label names as strings: encode them
        if labels is None:
            loaded = loaded.class_encode_column("label")
        else:
            loaded = loaded.cast_column("label", datasets.ClassLabel(names=list(labels)))
        feature = loaded[next(iter(loaded))].features["label"]
    if labels is not None and list(feature.names) != list(labels):
        raise DatasetError(f"{hub_id}: label names {feature.names} differ from the declared {list(labels)}")
    for split, ds in loaded.items():
        for row, text in enumerate(ds["text"], start=1):
            check_text(text, f"{hub_id} split {split!r} row {row}")
    return loaded


def split_files(directory: Path) -> dict[str, Path]:
    """Map split name → file for every supported file in ``directory``."""
    if not directory.is_dir():
        raise DatasetError(f"{directory}: not a directory")
    files: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix not in SUFFIXES:
            continue
        if path.stem in files:
            raise DatasetError(
                f"{directory}: split {path.stem!r} has two files ({files[path.stem].name}, {path.name})"
            )
        files[path.stem] = path
    if not files:
        raise DatasetError(
            f"{directory}: no split files; expected <split>{'|'.join(SUFFIXES)} "
            "(e.g. train.txt, validation.txt)"
        )
    return files


def read_split(path: Path, folder: Path) -> _Rows:
    """Read texts and raw labels (names or ids) from one split file of the dataset ``folder``."""
    reader = {".txt": read_txt, ".csv": read_csv, ".jsonl": read_jsonl, ".parquet": read_parquet}
    rows = reader[path.suffix](path, read_dataset_file(path, folder))
    if not rows.texts:
        raise DatasetError(f"{path}: split is empty")
    check_label_kinds(
        zip(rows.labels, rows.where, strict=True), "all label names or all integer ids in one file"
    )
    return rows


def max_file_bytes() -> int:
    """The cap on one dataset file: ``HARNESS_MAX_FILE_MB`` MiB, by default :data:`MAX_FILE_MB`."""
    value = os.environ.get("HARNESS_MAX_FILE_MB", str(MAX_FILE_MB))
    if not (value.isdecimal() and int(value) > 0):
        raise DatasetError(f"HARNESS_MAX_FILE_MB={value!r}: expected a positive whole number of MiB")
    return int(value) * 2**20


SPECIAL_FILES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in SPECIAL_FILES if test(mode)), "a special file")
        raise DatasetError(
            f"{path}: {kind}, not a regular file; expected a regular file inside the dataset folder"
        )


def _too_big(path: Path, size: str, cap: int) -> DatasetError:
    return DatasetError(
        f"{path}: {size}, over the cap of {cap // 2**20} MiB per dataset file (HARNESS_MAX_FILE_MB)"
    )


def read_dataset_file(path: Path, folder: Path) -> bytes:
    """The bytes of ``path``: a regular file whose real path lies inside ``folder``, within the size cap.

    Checked before opening: a file outside the folder is never read, and a FIFO (which would block)
    or a device (which may never end) is never opened. Opened non-blocking and checked again, and read
    no further than the cap, in case the file changed in between.
    """
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(folder)):
        raise DatasetError(
            f"{path}: a link to a file outside the dataset folder {folder}; expected a regular file inside it"
        )
    cap = max_file_bytes()
    try:
        info = os.stat(real)
        _check_regular(path, info.st_mode)
        if info.st_size > cap:
            raise _too_big(path, f"{info.st_size} bytes", cap)
        with open(os.open(real, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            _check_regular(path, os.fstat(file.fileno()).st_mode)
            data = file.read(cap + 1)
    except OSError as e:
        raise DatasetError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    if len(data) > cap:
        raise _too_big(path, f"more than {cap} bytes", cap)
    return data


def _decode(path: Path, data: bytes) -> str:
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0  # a byte-order mark is not text
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = start + e.start
        line = data[:offset].count(b"\n") + 1
        raise DatasetError(f"{path}:{line}: not UTF-8 (byte {offset})") from None


def _lines(text: str) -> list[str]:
    """Lines separated by ``\n`` (a final one may end the file); other line breaks stay in their line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _is_null(value) -> bool:
    """JSON ``null``, or a missing cell as pandas reads it (``None`` or NaN)."""
    return value is None or (isinstance(value, float) and value != value)


def check_text(text, loc: str) -> None:
    """A text must be a string with something besides whitespace."""
    if _is_null(text):
        raise DatasetError(f"{loc}: field 'text' is null; expected a string")
    if not isinstance(text, str):
        raise DatasetError(f"{loc}: field 'text' must be a string, got {text!r}")
    if not text.strip():
        raise DatasetError(f"{loc}: empty text {text!r}; expected a text that is not blank")


def check_label(label, loc: str) -> None:
    """A label must be a non-empty name or an integer id."""
    if _is_null(label):
        raise DatasetError(f"{loc}: field 'label' is null; expected a label name or an integer id")
    if isinstance(label, str):
        if not label.strip():
            raise DatasetError(f"{loc}: empty label {label!r}; expected a label name")
    elif not _is_id(label):
        raise DatasetError(f"{loc}: field 'label' must be a label name or an integer id, got {label!r}")


def read_txt(path: Path, data: bytes) -> _Rows:
    """``text;label`` per line, split on the last ``;``."""
    rows = _Rows([], [], [])
    for number, line in enumerate(_lines(_decode(path, data)), start=1):
        loc = f"{path}:{number}"
        line = line.removesuffix("\r")
        text, sep, label = line.rpartition(";")
        if not sep:
            raise DatasetError(f"{loc}: expected 'text;label', got {line[:60]!r}")
        if "\r" in line:
            raise DatasetError(
                f"{loc}: carriage return (\\r) inside the line; expected one 'text;label' per line "
                "(texts with line breaks need .jsonl or .csv)"
            )
        check_text(text, loc)
        check_label(label, loc)
        rows.texts.append(text)
        rows.labels.append(label)
        rows.where.append(loc)
    return rows


def _from_records(path: Path, records: list[dict], where: list[str]) -> _Rows:
    rows = _Rows([], [], [])
    for record, loc in zip(records, where, strict=True):
        for column in ("text", "label"):
            if column not in record:
                raise DatasetError(f"{loc}: missing field {column!r}; has {sorted(record)}")
        check_text(record["text"], loc)
        check_label(record["label"], loc)
        rows.texts.append(record["text"])
        rows.labels.append(record["label"])
        rows.where.append(loc)
    return rows


def read_csv(path: Path, data: bytes) -> _Rows:
    """CSV (Python's ``csv``, strict) with a header naming ``text`` and ``label``; every cell is a string.

    Every record must have as many fields as the header; locations are ``file:line`` of a record's start.
    """
    reader = csv.reader(io.StringIO(_decode(path, data), newline=""), strict=True)
    records, where = [], []
    try:
        header = next(reader, [])
        missing = {"text", "label"} - set(header)
        if header and missing:
            raise DatasetError(f"{path}: missing column(s) {sorted(missing)}; has {header}")
        repeated = sorted({c for c in ("text", "label") if header.count(c) > 1})
        if repeated:
            raise DatasetError(f"{path}: column(s) {repeated} appear more than once in the header")
        start = reader.line_num + 1
        for row in reader:
            if len(row) != len(header):
                raise DatasetError(
                    f"{path}:{start}: expected {len(header)} fields ({','.join(header)}), got {len(row)}"
                )
            records.append(dict(zip(header, row, strict=True)))
            where.append(f"{path}:{start}")
            start = reader.line_num + 1
    except csv.Error as e:
        raise DatasetError(f"{path}:{reader.line_num}: not valid CSV ({e})") from None
    return _from_records(path, records, where)


def read_parquet(path: Path, data: bytes) -> _Rows:
    """Columns ``text`` and ``label`` as Python values (an integer column stays integers)."""
    import pyarrow
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pyarrow.BufferReader(data))
    except (pyarrow.ArrowException, OSError) as e:
        raise DatasetError(f"{path}: not a readable Parquet file ({_first_line(e)})") from None
    missing = {"text", "label"} - set(table.column_names)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}; has {table.column_names}")
    repeated = sorted({c for c in ("text", "label") if table.column_names.count(c) > 1})
    if repeated:
        raise DatasetError(f"{path}: column(s) {repeated} appear more than once")
    columns = {column: table.column(column).to_pylist() for column in ("text", "label")}
    where = [f"{path} row {i}" for i in range(1, table.num_rows + 1)]
    for column, check in (("text", check_text), ("label", check_label)):
        null = next((i for i, value in enumerate(columns[column]) if _is_null(value)), None)
        if null is not None:  # first: pandas writes [1, None] as [1.0, null], and 1.0 is not the fault
            check(None, where[null])
    records = [{"text": t, "label": lab} for t, lab in zip(columns["text"], columns["label"], strict=True)]
    return _from_records(path, records, where)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_jsonl(path: Path, data: bytes) -> _Rows:
    records, where = [], []
    for number, line in enumerate(_lines(_decode(path, data)), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            raise DatasetError(f"{path}:{number}: empty line; expected a JSON object")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{number}: invalid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
        where.append(f"{path}:{number}")
    return _from_records(path, records, where)


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_integer_name(value) -> bool:
    return isinstance(value, str) and value.isdecimal() and str(int(value)) == value


def check_label_kinds(labels, expected: str) -> None:
    """``labels`` ((value, location) pairs) are all names or all integer ids: else an error naming both."""
    first = None
    for value, loc in labels:
        if first is None:
            first = (value, loc)
        elif _is_id(value) != _is_id(first[0]):
            is_kind = "an integer id" if _is_id(value) else "a label name"
            has_kind = "the integer id" if _is_id(first[0]) else "the label name"
            raise DatasetError(
                f"{loc}: label {value!r} is {is_kind}, but {first[1]} has {has_kind} {first[0]!r}; "
                f"expected {expected}"
            )


def infer_label_names(rows: dict[str, _Rows]) -> list[str]:
    """Undeclared labels: sorted names, or ``"0".."n-1"`` when the files hold integer ids.

    Names that are all integers (``"2"``, ``"10"``) sort by value. Names and ids mixed across files
    are an error: an id would point into a list made of the names.
    """
    check_label_kinds(
        ((v, loc) for r in rows.values() for v, loc in zip(r.labels, r.where, strict=True)),
        "all label names or all integer ids in a dataset without declared label names",
    )
    values = {v for r in rows.values() for v in r.labels}
    if all(_is_id(v) for v in values):
        return [str(i) for i in range(max(values) + 1)]
    names = {str(v) for v in values}
    if all(_is_integer_name(n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def check_label_names(names: list[str], what: str) -> None:
    if not names:
        raise DatasetError(f"{what}: no label names")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DatasetError(f"{what}: duplicate label names {duplicates}")


def encode_labels(rows: _Rows, names: list[str]) -> list[int]:
    """Map raw labels (names, or integer ids) to ids in ``names`` order."""
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for value, loc in zip(rows.labels, rows.where, strict=True):
        if _is_id(value):
            if not 0 <= value < len(names):
                raise DatasetError(f"{loc}: label id {value} out of range 0..{len(names) - 1}")
            ids.append(value)
        elif str(value) in index:
            ids.append(index[str(value)])
        else:
            hint = " (in .txt/.csv files a label is a name; integer ids need .jsonl or .parquet)"
            raise DatasetError(
                f"{loc}: unknown label {value!r}; expected one of {names}"
                + (hint if _is_integer_name(value) else "")
            )
    return ids
