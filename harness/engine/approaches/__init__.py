"""Approaches: the registry, the estimator contract and :class:`ApproachSpec`, what a suite declares.

Importing this package imports no approach module: built-in approaches load when first used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .registry import ApproachError, approach_names, get_approach, is_known, register_approach

DEPLOYED_BY_DEFAULT = "finetune"  # what ``harness bench --runtimes`` measures without a suite


@dataclass(frozen=True)
class ApproachSpec:
    """An approach name, its hyperparameters, overrides per checkpoint id, and runtime overrides.

    ``variant`` names what distinguishes this spec from others of the same approach (e.g. the
    pooling); it defaults to the values of ``params`` and the ``runtime`` dtype, if given (so
    ``runtime={"dtype": "bf16"}`` gets its own id, ``finetune-bf16``). ``runtime`` changes run
    settings for this approach only (e.g. ``{"dtype": "bf16"}`` for mixed-precision fine-tuning).
    ``seeds`` fits the pair once per seed (its ``seed`` hyperparameter set to each): the record adds
    every seed's scores, their mean and std, and gates check the mean. ``shots`` replaces the suite's
    ``SHOTS`` (training sizes of the learning curve) for this approach.
    """

    name: str
    params: dict = field(default_factory=dict)
    per_checkpoint: dict[str, dict] = field(default_factory=dict)
    variant: str | None = None
    runtime: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    shots: tuple = ()

    def __post_init__(self):
        if not is_known(self.name):
            raise ApproachError(f"unknown approach {self.name!r}; expected one of {approach_names()}")
        unknown = sorted(set(self.runtime) - {"device", "dtype", "batch_size"})
        if unknown:
            raise ValueError(f"approach {self.name!r}: runtime settings {unknown}; expected device, dtype or batch_size")
        seeds = self.seeds if isinstance(self.seeds, (list, tuple)) else [None]
        if any(not isinstance(s, int) or isinstance(s, bool) for s in seeds) or len(set(seeds)) != len(seeds):
            raise ApproachError(
                f"approach {self.name!r}: seeds={self.seeds!r}; expected a list of distinct integers"
            )
        object.__setattr__(self, "seeds", tuple(seeds))
        if isinstance(self.shots, list):
            object.__setattr__(self, "shots", tuple(self.shots))
        if self.variant is None:
            object.__setattr__(self, "variant", self._derived_variant())

    def _derived_variant(self) -> str | None:
        """The values of ``params`` and a ``runtime`` dtype (it changes results): what tells specs apart."""
        values = [*self.params.values(), *([self.runtime["dtype"]] if "dtype" in self.runtime else [])]
        return "-".join(str(v) for v in values) or None

    @property
    def id(self) -> str:
        return f"{self.name}-{self.variant}" if self.variant else self.name

    @property
    def cls(self) -> type:
        return get_approach(self.name)

    @property
    def expensive(self) -> bool:
        return self.cls.expensive

    def params_for(self, checkpoint_id: str | None) -> dict:
        return {**self.params, **self.per_checkpoint.get(checkpoint_id, {})}

    def build(self, checkpoint):
        """A fresh estimator with this spec's hyperparameters (and the checkpoint, if it takes one)."""
        cls = self.cls
        params = self.params_for(checkpoint.id if checkpoint is not None else None)
        if cls.uses_checkpoint:
            params = {"checkpoint": checkpoint, **params}
        try:
            return cls(**params)
        except TypeError as e:
            raise ApproachError(f"approach {self.id!r}: {e}") from None

    def info(self, params: dict) -> dict:
        """The record's ``approach`` (docs/results.md): name, variant, id, ``params``, and the capabilities
        of its class that readers of the record need (:meth:`Approach.capabilities`)."""
        return {"name": self.name, "variant": self.variant, "id": self.id, "params": params,
                **self.cls.capabilities()}

    def declaration(self) -> str:
        """``approach_spec('features-logreg', pooling='cls', variant='mean')``: the spec as written."""
        given = [repr(self.name)] + [f"{k}={v!r}" for k, v in self.params.items()]
        extra = {"per_checkpoint": self.per_checkpoint, "variant": self.variant, "runtime": self.runtime,
                 "seeds": list(self.seeds), "shots": list(self.shots)}
        if self.variant == self._derived_variant():
            extra.pop("variant")
        given += [f"{k}={v!r}" for k, v in extra.items() if v]
        return f"approach_spec({', '.join(given)})"

    def __str__(self) -> str:
        return self.id


def approach_spec(
    name: str,
    per_checkpoint: dict[str, dict] | None = None,
    variant: str | None = None,
    runtime: dict | None = None,
    seeds: list[int] | None = None,
    shots: list | None = None,
    **params,
) -> ApproachSpec:
    """Declare an approach for a suite: ``approach_spec("features-logreg", pooling="mean")``."""
    return ApproachSpec(
        name, params, per_checkpoint or {}, variant, runtime or {}, () if seeds is None else seeds,
        () if shots is None else shots,
    )


__all__ = [
    "ApproachSpec",
    "ApproachError",
    "approach_names",
    "approach_spec",
    "get_approach",
    "register_approach",
]
