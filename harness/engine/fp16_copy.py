"""A copy of a checkpoint directory whose weights are stored in fp16: half the bytes to carry elsewhere.

Floating-point weights are written as fp16 safetensors (``model.safetensors``, or the shards an index
names); every other file is copied as it is, except weight files of other formats (a pickle
``pytorch_model.bin`` becomes ``model.safetensors``; ``onnx/``, ``openvino/`` and TF/Flax weights are
left out); a ``config.json`` naming no dtype gets ``float32``. The harness loads such a copy as fp32
(:meth:`ResolvedCheckpoint.load_model`) and records ``stored_dtype: fp16`` with the pair.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .checkpoints import CheckpointError

PICKLED_WEIGHTS = "pytorch_model.bin"
LEFT_OUT = {"onnx", "openvino", "tf_model.h5", "flax_model.msgpack", "rust_model.ot", PICKLED_WEIGHTS}


def write_fp16_copy(source: str | Path, target: str | Path) -> int:
    """Write the fp16-stored copy of checkpoint directory ``source`` into ``target`` (created; must not
    exist or be empty); the number of bytes written."""
    source, target = Path(source).resolve(), Path(target)
    if not (source / "config.json").is_file():
        raise CheckpointError(f"{source}: not a checkpoint directory (no config.json)")
    if target.exists() and any(target.iterdir()):
        raise CheckpointError(f"{target}: exists and is not empty; expected a new folder for the fp16 copy")
    weights = sorted(source.glob("*.safetensors"))
    if not weights and not (source / PICKLED_WEIGHTS).is_file():
        raise CheckpointError(f"{source}: no model.safetensors or {PICKLED_WEIGHTS} to copy in fp16")
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative.parts[0] in LEFT_OUT or path.suffix == ".safetensors" or not path.is_file():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)
    _name_fp32(target / "config.json")
    if weights:
        for path in weights:
            _save_fp16(_load_safetensors(path), target / path.name)
            shutil.copymode(path, target / path.name)
    else:
        _save_fp16(_load_pickle(source / PICKLED_WEIGHTS), target / "model.safetensors")
        shutil.copymode(source / PICKLED_WEIGHTS, target / "model.safetensors")
    return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())


def _name_fp32(config_path: Path) -> None:
    """A config naming no dtype gets ``dtype: float32``: loaders that keep the stored dtype by default
    (transformers 5's ``dtype="auto"``, sentence-transformers) then upcast too."""
    import json

    config = json.loads(config_path.read_text(encoding="utf-8"))
    if "dtype" not in config and "torch_dtype" not in config:
        config["dtype"] = "float32"
        config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def _load_pickle(path: Path) -> dict:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: cannot be read as a plain state dict ({e})") from None


def _save_fp16(tensors: dict, path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    half = {
        name: (t.to(torch.float16) if t.is_floating_point() else t).contiguous().clone()
        for name, t in tensors.items()
    }
    save_file(half, path, metadata={"format": "pt"})
