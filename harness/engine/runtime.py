"""How a pair runs, apart from what it is: device, dtype, batch size, the cache and shared encoders.

Approaches receive a :class:`Runtime` in ``fit``/``predict_proba``; their ``__init__`` holds only
hyperparameters. Cache keys are built here, and only here: every key covers the runtime settings,
the machine's instructions, the library versions and the harness code, plus the parts a caller names
(weights, data, parameters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from ..results.model import RuntimeSettings
from .budget import mark_cached
from .cache import Cache, cache_key, environment_parts

BATCH_SIZE = 64


@dataclass(frozen=True)
class Runtime:
    """``device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; ``dtype``: ``fp32``, or ``bf16``/``fp16``
    autocast (mixed-precision training for fine-tuning), or ``auto``: bf16 where the device runs it
    natively, else fp32; ``batch_size``: extraction and inference batches; ``cache``: where slow
    results are kept (None: nothing is cached)."""

    device: str = "cpu"
    dtype: str = "fp32"
    batch_size: int = BATCH_SIZE
    cache: Cache | None = None
    shared: dict = field(default_factory=dict, compare=False, repr=False)  # objects reused across pairs

    def __post_init__(self):
        if self.dtype == "auto":
            from .checkpoints import select_device
            from .inference import dtype_supported

            native = dtype_supported("bf16", select_device(self.device))
            object.__setattr__(self, "dtype", "bf16" if native else "fp32")

    def replace(self, **changes) -> Runtime:
        """A runtime with some settings changed; it shares this one's cache and shared objects."""
        return dataclasses.replace(self, **changes, shared=self.shared)

    def torch_device(self):
        """The ``torch.device`` to run on; raises a one-line error for an unknown or absent device, or a
        dtype the device cannot run natively."""
        from .checkpoints import select_device
        from .inference import check_dtype

        device = select_device(self.device)
        check_dtype(self.dtype, device)
        return device

    def settings(self) -> dict:
        """The settings that change results: device type, dtype and batch size."""
        from .checkpoints import select_device

        return {"device": select_device(self.device).type, "dtype": self.dtype, "batch_size": self.batch_size}

    def record(self) -> RuntimeSettings:
        """The settings as pair records and exports keep them: what the pair was measured under."""
        return RuntimeSettings(**self.settings())

    def cache_key(self, kind: str, **parts) -> str:
        """The cache key of a ``kind`` of result computed from ``parts`` under this runtime, on this
        machine's instructions (:func:`~harness.engine.inference.instruction_set`): a cache shared by
        machines never answers one with what another computed."""
        from .checkpoints import select_device
        from .inference import instruction_set

        machine = instruction_set(select_device(self.device))
        return cache_key(kind=kind, runtime=self.settings(), instructions=machine, **parts, **environment_parts())

    def cached_arrays(self, kind: str, parts: dict, compute: Callable[[], tuple[dict, dict]], meta_keys=()):
        """``compute() -> (arrays, meta)``, from the cache when present (an entry whose meta lacks one
        of ``meta_keys`` is recomputed); returns (arrays, meta, hit)."""
        if self.cache is None or not self.cache.enabled:
            arrays, meta = compute()
            return arrays, meta, False
        key = self.cache_key(kind, **parts)
        arrays, meta = self.cache.arrays(kind, key, compute, tuple(meta_keys))
        return arrays, meta, mark_cached((kind, key) in self.cache.hits)

    def cached(self, kind: str, parts: dict, compute: Callable, save: Callable, load: Callable, meta_keys=()):
        """``compute() -> (value, meta)``, stored with ``save(value, directory)`` and read back with
        ``load(directory)`` (an entry whose meta lacks one of ``meta_keys`` is recomputed); returns
        (value, meta, hit). Without a cache it just computes."""
        if self.cache is None or not self.cache.enabled:
            value, meta = compute()
            return value, meta, False
        key = self.cache_key(kind, **parts)
        value, meta = self.cache.get(kind, key, compute, save, load, tuple(meta_keys))
        return value, meta, mark_cached((kind, key) in self.cache.hits)

    def reuse(self, key: tuple, factory: Callable[[], object]):
        """One object per ``key`` for every pair of the run (e.g. a checkpoint's feature extractor)."""
        if key not in self.shared:
            self.shared[key] = factory()
        return self.shared[key]
