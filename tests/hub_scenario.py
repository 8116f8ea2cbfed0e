"""One harness run against a hub, in its own process (tests/test_hub.py starts it).

``python hub_scenario.py CHECKPOINT_ID CACHE_DIR [CACHE_DIR ...]`` resolves the checkpoint, loads the
``emotion`` dataset (``dair-ai/emotion``) and evaluates most-frequent and features-logreg with each
harness cache in turn, through the harness's own hub code; it prints one JSON object. The hub is what
``HF_ENDPOINT`` names, read by huggingface_hub at import: hence a process of its own. A connection to
anything but 127.0.0.1 raises, so the real hub is never reached.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys


def loopback_only() -> None:
    """Refuse every connection that is not to 127.0.0.1 / ::1 (or a Unix socket)."""
    original = socket.socket.connect

    def connect(sock, address, *args):
        internet = sock.family in (socket.AF_INET, socket.AF_INET6)
        if internet and not ipaddress.ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError(f"hub_scenario: connection to {address!r} refused; only 127.0.0.1")
        return original(sock, address, *args)

    socket.socket.connect = connect


def main(checkpoint_id: str, cache_dirs: list[str]) -> dict:
    from harness.engine.approaches import approach_spec
    from harness.engine.cache import Cache
    from harness.engine.checkpoints import resolve_checkpoint
    from harness.engine.data import load_dataset
    from harness.engine.evaluation import evaluate
    from harness.engine.runtime import Runtime

    checkpoint = resolve_checkpoint(checkpoint_id)
    dataset = load_dataset("emotion")
    runs = []
    for cache_dir in cache_dirs:
        cache = Cache(cache_dir)
        pairs = {}
        for spec in (approach_spec("most-frequent"), approach_spec("features-logreg", pooling="mean")):
            evaluation = evaluate("hub", "emotion", dataset, checkpoint, spec, Runtime(device="cpu", cache=cache))
            pairs[spec.id] = {
                "metrics": evaluation.scored["metrics"],
                "proba": evaluation.proba.tolist(),
                "cached": evaluation.cached,
            }
        runs.append({"pairs": pairs, "hits": len(cache.hits), "stores": len(cache.stores)})
    return {
        "source": checkpoint.source,
        "fingerprint": checkpoint.fingerprint(),
        "labels": dataset["train"].features["label"].names,
        "rows": {split: len(dataset[split]) for split in dataset},
        "runs": runs,
    }


if __name__ == "__main__":
    loopback_only()
    print(json.dumps(main(sys.argv[1], sys.argv[2:])))
