"""Simulated x86-64 CPUs: the flags and oneDNN answers the harness asks, faked, so capability-dependent tests
run as they would on each kind of CPU a user's CI has, whatever CPU runs them.

The harness asks three things (harness/engine/inference.py, environment.py): the CPU's feature flags
(``inference.cpu_flags``), oneDNN's bf16/fp16 answers (``inference.onednn_native``, which asks
``torch.ops.mkldnn``; those ops themselves are not patched, since the ONNX exporter walks that namespace)
and the kernels torch runs (``torch.backends.cpu.get_cpu_capability``). A profile answers all of them. What then runs is real: torch
computes bf16 and fp16 on any x86-64 CPU (emulated, slowly, without the instructions), so a profile
changes which code paths run, never what they compute. Tests take the ``cpu_profile`` fixture
(tests/conftest.py), which runs them once per profile; ``HARNESS_TEST_CPU_PROFILE=<name>`` runs the whole
session under one.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_FLAGS = frozenset(
    {"fpu", "sse", "sse2", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "avx2", "fma", "f16c"}
)
AMX_FLAGS = frozenset({"amx_tile", "amx_bf16", "amx_int8", "amx_fp16"})
AVX512_FLAGS = frozenset({"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"})


@dataclass(frozen=True)
class CpuProfile:
    """One kind of CPU: its flags, the instruction set torch reports, oneDNN's bf16/fp16 answers."""

    name: str
    flags: frozenset[str]
    capability: str  # what torch.backends.cpu.get_cpu_capability() answers
    onednn_bf16: bool
    onednn_fp16: bool

    def native(self, dtype: str) -> bool:
        """Whether this CPU runs ``dtype`` natively: what the tests expect ``dtype_supported`` to say."""
        if dtype == "fp32":
            return True
        return {"bf16": self.onednn_bf16, "fp16": self.onednn_fp16}[dtype]

    def apply(self, patch) -> None:
        """Answer every capability question the harness asks as this CPU would (``patch``: a MonkeyPatch)."""
        import torch

        from harness.engine import inference

        patch.setattr(inference, "cpu_flags", lambda: set(self.flags))
        patch.setattr(inference, "onednn_native", self.native)
        patch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: self.capability)


PROFILES = {
    profile.name: profile
    for profile in (
        # an AMD EPYC (Zen 2/3) or an older Intel: no native low precision
        CpuProfile("avx2", BASE_FLAGS, "AVX2", onednn_bf16=False, onednn_fp16=False),
        # Cooper Lake / Zen 4: AVX-512 with BF16 dot products, no FP16 arithmetic
        CpuProfile("avx512-bf16", BASE_FLAGS | AVX512_FLAGS | {"avx512_bf16"}, "AVX512", True, False),
        # Sapphire Rapids and later: AMX tiles and AVX-512 FP16
        CpuProfile(
            "amx-fp16",
            BASE_FLAGS | AVX512_FLAGS | AMX_FLAGS | {"avx512_bf16", "avx512_fp16"},
            "AVX512",
            True,
            True,
        ),
    )
}
