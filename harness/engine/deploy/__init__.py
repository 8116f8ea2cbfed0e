"""Deployment runtimes of fitted pairs: the same classifier run by torch (fp32, bf16, fp16, dynamic
int8) and ONNX Runtime (fp32, dynamic int8), measured side by side against ``torch-fp32``.

- :mod:`.graphs`: what a runtime executes of a fitted pair (module, tokenizer, head);
- :mod:`.backends`: the runtimes, their artefacts (ONNX export and quantization, cached) and predictors;
- :mod:`.measure`: accuracy, agreement, size, memory, load time, throughput and latency per runtime;
- :mod:`.gates`: the suite's ``RUNTIMES`` and ``RUNTIME_GATES`` declarations and the gates;
- :mod:`.pair`: all of it for one :class:`~harness.engine.evaluation.Evaluation`.
"""
