"""Approaches by name, and :class:`ApproachSpec`, the declaration a suite parametrizes over."""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Approach
from .baseline import MostFrequent
from .features import FeatureLogReg, HiddenStateExtractor
from .finetune import FineTune
from .pretrained import LabelMismatch, Pretrained

APPROACHES: dict[str, type[Approach]] = {
    cls.name: cls for cls in (MostFrequent, FeatureLogReg, FineTune, Pretrained)
}


@dataclass(frozen=True)
class ApproachSpec:
    """An approach name, its parameters, and parameter overrides per checkpoint id.

    ``variant`` names what distinguishes this spec from others of the same approach
    (e.g. the pooling); it defaults to the values of ``params``.
    """

    name: str
    params: dict = field(default_factory=dict)
    per_checkpoint: dict[str, dict] = field(default_factory=dict)
    variant: str | None = None

    def __post_init__(self):
        if self.name not in APPROACHES:
            raise ValueError(f"unknown approach {self.name!r}; expected one of {sorted(APPROACHES)}")
        if self.variant is None and self.params:
            object.__setattr__(self, "variant", "-".join(str(v) for v in self.params.values()))

    @property
    def id(self) -> str:
        return f"{self.name}-{self.variant}" if self.variant else self.name

    @property
    def expensive(self) -> bool:
        return APPROACHES[self.name].expensive

    def params_for(self, checkpoint_id: str | None) -> dict:
        return {**self.params, **self.per_checkpoint.get(checkpoint_id, {})}

    def build(self, checkpoint, labels, **context) -> Approach:
        """Instantiate the estimator; ``context`` (device, extractors) fills only parameters it has."""
        cls = APPROACHES[self.name]
        accepted = cls._get_param_names()
        params = {k: v for k, v in context.items() if k in accepted and v is not None}
        if "checkpoint" in accepted:
            params["checkpoint"] = checkpoint
        params.update(self.params_for(checkpoint.id if checkpoint else None))
        return cls(labels=list(labels), **params)

    def __str__(self) -> str:
        return self.id


def approach_spec(
    name: str, per_checkpoint: dict[str, dict] | None = None, variant: str | None = None, **params
) -> ApproachSpec:
    """Declare an approach for a suite: ``approach_spec("features-logreg", pooling="mean")``."""
    return ApproachSpec(name, params, per_checkpoint or {}, variant)


__all__ = [
    "APPROACHES",
    "Approach",
    "ApproachSpec",
    "FeatureLogReg",
    "FineTune",
    "HiddenStateExtractor",
    "LabelMismatch",
    "MostFrequent",
    "Pretrained",
    "approach_spec",
]
