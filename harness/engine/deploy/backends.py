"""Deployment runtimes: building each one from a :class:`~harness.engine.deploy.graphs.Graph` and running it.

=============  ==============  =====================================================================
runtime        backend         what runs
=============  ==============  =====================================================================
torch-fp32     torch           the fitted model as trained (the reference)
torch-bf16     torch           weights cast to bfloat16 (CPUs with AVX-512 BF16/AMX, CUDA with bf16)
torch-fp16     torch           weights cast to float16 (CUDA only)
torch-int8     torch           ``torch.ao.quantization.quantize_dynamic`` of every ``Linear`` (CPU)
onnx-fp32      onnxruntime     ``torch.onnx.export`` of the graph, full graph optimizations
onnx-int8      onnxruntime     ``onnxruntime.quantization.quantize_dynamic`` of that export (CPU)
=============  ==============  =====================================================================

Each runtime is built from an artefact on disk, and the time that takes is its load time: the
fitted model saved with ``save_pretrained`` (safetensors) for the torch runtimes (torch-int8
quantizes it on load; its size is its quantized ``state_dict``), the ONNX file for ONNX Runtime. The
ONNX export traces the fp32 artefact read back, never the fitted object: a pair fitted or run in
bf16/fp16 still exports an fp32 graph, and torch-fp32 runs fp32 weights without autocast. ONNX
files are cached like fine-tuned models, keyed by the fitted weights and the export settings.
ONNX Runtime gets as many intra-op threads as torch has, so both use the same cores.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import HarnessError
from .graphs import Graph

OPSET = 18
EXPORTER = "dynamo"  # torch.onnx.export(dynamo=True): torch.export-based, torch's default since 2.9
# int8 weights with one scale per output channel, activations quantized per batch at run time;
# ``Linear`` layers whose module path matches an ``fp32_layers`` pattern (``*.classifier``) stay fp32.
# Per-channel, measured on the emotion fine-tune (MiniLM, 2,000 validation texts, AVX-512 VNNI CPU):
# agreement with torch-fp32 97.45% (torch) and 98.90% (ONNX), against 96.10% and 97.00% per tensor;
# keeping the classifier and pooler in fp32 changed nothing (97.45%).
QUANTIZATION = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False, "fp32_layers": []}
ONNX_PACKAGES = ("onnx", "onnxruntime", "onnxscript")
ARTEFACT_META = ("export_s", "n_parameters")  # a cached artefact whose meta lacks one is built again
ONNX_EXTRA = "pip install 'harness[onnx]'"
MB = 2**20


class RuntimeUnavailable(HarnessError, RuntimeError):
    """A runtime that cannot be built here (a missing package, an unsupported device)."""


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    backend: str  # torch | onnxruntime
    dtype: str  # fp32 | bf16 | fp16 | int8

    def unsupported(self, device: torch.device) -> str | None:
        """Why this runtime cannot run on ``device`` here, or None."""
        from ..inference import dtype_supported

        if self.backend == "onnxruntime":
            missing = [name for name in ONNX_PACKAGES if not _installed(name)]
            if missing:
                return f"{self.name} needs {', '.join(missing)}: {ONNX_EXTRA}"
            if device.type == "cuda" and self.dtype == "int8":
                return f"{self.name}: ONNX Runtime's dynamic int8 kernels run on CPU only"
            if device.type == "cuda" and "CUDAExecutionProvider" not in _providers():
                return f"{self.name}: onnxruntime has no CUDA provider here (install onnxruntime-gpu)"
            return None
        if self.dtype == "int8":
            if device.type != "cpu":
                return f"{self.name}: dynamic int8 quantization runs on CPU only"
            if torch.backends.quantized.engine in (None, "none"):
                return f"{self.name}: this torch build has no quantized engine"
            return None
        if not dtype_supported(self.dtype, device):
            return f"{self.name}: {self.dtype} is not supported natively on {device.type} here"
        return None


RUNTIMES = {
    spec.name: spec
    for spec in (
        RuntimeSpec("torch-fp32", "torch", "fp32"),
        RuntimeSpec("torch-bf16", "torch", "bf16"),
        RuntimeSpec("torch-fp16", "torch", "fp16"),
        RuntimeSpec("torch-int8", "torch", "int8"),
        RuntimeSpec("onnx-fp32", "onnxruntime", "fp32"),
        RuntimeSpec("onnx-int8", "onnxruntime", "int8"),
    )
}


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def _providers() -> list[str]:
    import onnxruntime

    return onnxruntime.get_available_providers()


Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (input_ids, attention_mask) -> outputs


@dataclass
class Built:
    """A ready runtime: its predictor and what building it cost."""

    spec: RuntimeSpec
    predictor: Predictor
    device: str
    size_bytes: int
    n_parameters: int
    load_s: float
    export_s: float | None = None
    artefact_cached: bool | None = None
    predictions_cached: bool = False  # the evaluation split's predictions were read from the cache
    provider: str | None = None
    note: str | None = None
    module: torch.nn.Module | None = None  # what a torch runtime executes (None for ONNX Runtime)


def torch_predictor(module: torch.nn.Module, device: torch.device) -> Predictor:
    def predict(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(device)
            mask = torch.from_numpy(attention_mask).to(device)
            return module(ids, mask).float().cpu().numpy()

    return predict


def onnx_predictor(session) -> Predictor:
    output = session.get_outputs()[0].name

    def predict(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return session.run([output], {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    return predict


def n_parameters(module: torch.nn.Module) -> int:
    """Weights of a module, dynamically quantized ``Linear`` layers included (their weights are packed)."""
    from torch.ao.nn.quantized import dynamic

    count = sum(p.numel() for p in module.parameters())
    for layer in module.modules():
        if isinstance(layer, dynamic.Linear):
            weight, bias = layer._weight_bias()
            count += weight.numel() + (bias.numel() if bias is not None else 0)
    return count


def _files_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file() and p.suffix != ".json")


def kept_fp32(path: str, quantization: dict = QUANTIZATION) -> bool:
    """Whether the layer at module path ``path`` (``model.bert.pooler.dense``) stays fp32."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in quantization["fp32_layers"])


def quantize_linear(module: torch.nn.Module, quantization: dict = QUANTIZATION) -> torch.nn.Module:
    """``quantize_dynamic`` of the ``Linear`` layers to int8 as ``quantization`` says (per-channel or
    per-tensor weight scales, some layers kept fp32); its deprecation notice is not the user's."""
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    qconfig = per_channel_dynamic_qconfig if quantization["per_channel"] else default_dynamic_qconfig
    layers = {
        path: qconfig
        for path, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear) and not kept_fp32(path, quantization)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(module, layers, dtype=torch.qint8)


class Builder:
    """Builds the runtimes of one graph; artefacts go to ``workdir`` (temporary) or the runtime's cache."""

    def __init__(self, graph: Graph, device: torch.device, workdir: Path, runtime):
        self.graph = graph
        self.device = device
        self.workdir = Path(workdir)
        self.runtime = runtime  # harness.engine.runtime.Runtime: where exported artefacts are cached
        self._saved: dict[str, Path] = {}
        self._artefacts: dict[str, tuple[Path, dict, bool]] = {}  # kind -> (directory, meta, cached)
        self._fingerprint: str | None = None

    def build(self, spec: RuntimeSpec) -> Built:
        return self._build_onnx(spec) if spec.backend == "onnxruntime" else self._build_torch(spec)

    # torch

    def _saved_dir(self, dtype: str) -> Path:
        """The fitted model saved (safetensors) in ``dtype``: the artefact torch runtimes load."""
        if dtype not in self._saved:
            from ..inference import DTYPES

            directory = self.workdir / f"torch-{dtype}"
            model = _cpu_copy(self.graph.model).to(DTYPES[dtype])
            with _quiet():
                model.save_pretrained(directory)
            self._saved[dtype] = directory
        return self._saved[dtype]

    def _load(self, dtype: str):
        """The fitted model read back from its artefact in ``dtype``: a fresh object, so nothing the
        fitting process attached to the model (an autocast wrapper of mixed-precision training, a
        device) comes along."""
        from ..inference import DTYPES

        model = self.graph.auto_class.from_pretrained(
            self._saved_dir(dtype), trust_remote_code=False, dtype=DTYPES[dtype]
        )
        _check_dtype(model, DTYPES[dtype], self.graph)
        return model

    def _build_torch(self, spec: RuntimeSpec) -> Built:
        stored = "fp32" if spec.dtype == "int8" else spec.dtype
        directory = self._saved_dir(stored)
        with _quiet():
            started = time.perf_counter()
            module = self.graph.wrap(self._load(stored)).eval()
            if spec.dtype == "int8":
                module = quantize_linear(module)
            module = module.to(self.device)
            load_s = time.perf_counter() - started
        size = _files_size(directory)
        note = None
        if spec.dtype == "int8":
            path = self.workdir / "torch-int8.pt"
            torch.save(module.state_dict(), path)
            size = path.stat().st_size
            note = "loaded as fp32, quantized on load; size: its int8 state_dict"
        return Built(
            spec,
            torch_predictor(module, self.device),
            str(self.device),
            size,
            n_parameters(module),
            load_s,
            note=note,
            module=module,
        )

    # ONNX Runtime

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = self.graph.fingerprint()
        return self._fingerprint

    def build_parts(self) -> dict:
        """What an artefact built from this graph depends on beyond what every cache key covers: the
        fitted weights, the exporter and opset, the ONNX packages' versions and the building code."""
        from importlib import metadata

        def version(name: str) -> str | None:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:  # a torch runtime's predictions, without the onnx extra
                return None

        return {
            "model": self.fingerprint(),
            "exporter": EXPORTER,
            "opset": OPSET,
            "onnx_versions": {name: version(name) for name in ONNX_PACKAGES},
            "export_code": code_digest(),
        }

    def _artefact(self, kind: str, parts: dict, build: Callable[[Path], dict]) -> tuple[Path, dict, bool]:
        """(directory, meta, cached) of an artefact: built by ``build(directory) -> meta`` in ``workdir``
        and copied into the runtime's cache, or read from there (``Runtime.cached`` builds the key)."""

        def compute() -> tuple[Path, dict]:
            directory = self.workdir / kind
            directory.mkdir(parents=True, exist_ok=True)
            return directory, build(directory)

        def save(built: Path, directory: Path) -> None:
            shutil.copytree(built, directory, dirs_exist_ok=True)

        if kind not in self._artefacts:
            if self.runtime is None:
                self._artefacts[kind] = *compute(), False
            else:
                load = lambda directory: directory  # noqa: E731 - the files are read by the runtime
                self._artefacts[kind] = self.runtime.cached(kind, parts, compute, save, load, ARTEFACT_META)
        return self._artefacts[kind]

    def onnx_fp32(self) -> tuple[Path, dict, bool]:
        def build(directory: Path) -> dict:
            started = time.perf_counter()
            with _quiet():
                model = self._load("fp32")
            export_onnx(self.graph, model, directory / "model.onnx")
            return {"export_s": time.perf_counter() - started, "exporter": EXPORTER, "opset": OPSET,
                    "n_parameters": _onnx_parameters(directory / "model.onnx")}

        return self._artefact("onnx-export", self.build_parts(), build)

    def onnx_int8(self) -> tuple[Path, dict, bool]:
        source, source_meta, _ = self.onnx_fp32()

        def build(directory: Path) -> dict:
            started = time.perf_counter()
            quantize_onnx(source / "model.onnx", directory / "model.onnx")
            return {"export_s": source_meta["export_s"] + time.perf_counter() - started,
                    "n_parameters": _onnx_parameters(directory / "model.onnx")}

        return self._artefact("onnx-int8", {**self.build_parts(), "quantization": QUANTIZATION}, build)

    def _build_onnx(self, spec: RuntimeSpec) -> Built:
        import onnxruntime as ort

        directory, meta, cached = self.onnx_int8() if spec.dtype == "int8" else self.onnx_fp32()
        path = directory / "model.onnx"
        provider = "CUDAExecutionProvider" if self.device.type == "cuda" else "CPUExecutionProvider"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3  # errors only
        started = time.perf_counter()
        session = ort.InferenceSession(str(path), options, providers=[provider])
        load_s = time.perf_counter() - started
        count = meta["n_parameters"]
        size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file() and p.name != "manifest.json")
        return Built(
            spec,
            onnx_predictor(session),
            str(self.device),
            size,
            count,
            load_s,
            export_s=meta["export_s"],
            artefact_cached=cached,
            provider=provider,
            note=f"{meta.get('exporter', EXPORTER)} exporter, opset {meta.get('opset', OPSET)}",
        )


def _cpu_copy(model):
    import copy

    return copy.deepcopy(model).to("cpu").float()


def example_inputs(graph: Graph) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of two texts to trace with: padding must be in the traced graph (a trace of
    unpadded inputs may drop the attention mask, and then padded batches silently differ)."""
    from ..inference import encode, pad, pad_token_id

    texts = ["an example sentence that is long enough to be padded against", "short"]
    encoded = encode(graph.tokenizer, texts, graph.max_length)
    return pad(encoded.input_ids, pad_token_id(graph.tokenizer))


def _check_dtype(model, dtype: torch.dtype, graph: Graph) -> None:
    """A loaded model whose floating-point weights are not all ``dtype`` is a harness bug: say so."""
    found = {p.dtype for p in model.parameters() if p.is_floating_point()} - {dtype}
    if found:
        raise RuntimeError(f"{graph.output} model loaded as {dtype} has {sorted(map(str, found))} weights")


def export_onnx(graph: Graph, model, path: Path) -> None:
    """``torch.onnx.export`` of the graph's module around ``model`` (the fitted model read back in fp32,
    on CPU: the export is fp32 whatever dtype the pair ran in) with dynamic batch and sequence axes."""
    module = graph.wrap(model.to("cpu")).eval()
    input_ids, attention_mask = example_inputs(graph)
    dynamic = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (input_ids, attention_mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["output"],
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes={"input_ids": dynamic, "attention_mask": dynamic},
            external_data=False,
            verbose=False,
        )


def quantize_onnx(source: Path, target: Path, quantization: dict = QUANTIZATION) -> None:
    """Dynamic int8 quantization of the weights of an ONNX model (activations quantized at run time),
    the nodes of ``fp32_layers`` left out."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=getattr(QuantType, quantization["weight_type"]),
            per_channel=quantization["per_channel"],
            reduce_range=quantization["reduce_range"],
            nodes_to_exclude=fp32_nodes(source, quantization),
        )


def fp32_nodes(path: Path, quantization: dict = QUANTIZATION) -> list[str]:
    """Names of the nodes of an exported graph that ``fp32_layers`` keeps in fp32: the exporter records
    the module path of each node (``pkg.torch.onnx.name_scopes``) and the graph's module paths are the
    ones :func:`quantize_linear` sees."""
    import ast

    import onnx

    if not quantization["fp32_layers"]:
        return []
    nodes = []
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "[]")
        if any(kept_fp32(scope, quantization) for scope in ast.literal_eval(scopes)):
            nodes.append(node.name)
    return nodes


@contextlib.contextmanager
def _quiet():
    """Silence progress bars and logging of saving, loading, exporting and quantizing (the exporter's
    and quantizer's warnings about optional packages and pre-processing are not the user's business)."""
    from transformers.utils import logging as hf_logging

    loggers = [logging.root, logging.getLogger("torch.onnx"), logging.getLogger("onnxscript")]
    levels = [logger.level for logger in loggers]
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if bars:
            hf_logging.enable_progress_bar()


def _onnx_parameters(path: Path) -> int:
    """Elements of the ONNX model's initializers (its weights, in whatever type they are stored)."""
    import onnx

    return sum(int(np.prod(t.dims)) for t in onnx.load(str(path), load_external_data=False).graph.initializer)


def code_digest() -> str:
    """sha256 of the code that builds artefacts: an export made by other code is not reused."""
    digest = hashlib.sha256()
    for name in ("backends.py", "graphs.py"):
        path = Path(__file__).parent / name
        digest.update(path.name.encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()


def temporary_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="harness-runtimes-")
