"""The building blocks of the results model: bounded numbers, statuses and the strict base model.

:mod:`harness.results.model` and the models of repeated fits (``curves``) and deployment runtimes
(``runtimes``) build on them, so none of those modules imports another in a circle.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
SUITE_KIND = "harness.suite"
BASELINE_KIND = "harness.baseline"
METRICS = ("accuracy", "f1_weighted", "f1_macro")  # the gated metrics, with CIs and baseline checks
STATUS_ORDER = {"skipped": 0, "passed": 1, "failed": 2}  # a pair takes its worst test outcome
MAX_COUNT = 2**53  # larger integers lose precision in JSON readers (and would be meaningless here)

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Share = Annotated[float, Field(ge=0, le=1)]
Number = Annotated[float, Field(ge=-1e300, le=1e300)]
Interval = Annotated[list[Number], Field(min_length=2, max_length=2)]
Status = Literal["passed", "failed", "skipped"]


class Model(BaseModel):
    """Strict, finite, open to extra keys; attributes are the document's keys."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="allow", validate_assignment=False)

    def to_json(self) -> dict:
        return self.model_dump(mode="json", exclude_none=False, by_alias=True)


class GateResult(Model):
    metric: str
    threshold: Number
    value: Number
    passed: bool
