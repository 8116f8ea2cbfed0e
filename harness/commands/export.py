"""``harness export SUITE_FILE --checkpoint ID --approach ID --out DIR``: a fitted pair as a directory.

The pair is fitted through the cache as the suite fits it, and scored on the suite's eval split.
What the directory holds, for the users of other libraries:

- ``finetune``: the model and tokenizer as ``save_pretrained`` writes them (safetensors), labels
  named in ``id2label``; ``AutoModelForSequenceClassification`` and ``pipeline`` load it;
- ``features-logreg``: the frozen encoder in ``encoder/`` (``AutoModel``), the fitted
  ``LogisticRegression`` as ``classifier.joblib`` and, for loaders that unpickle nothing (``harness
  predict``), its arrays in ``classifier.safetensors``;
- both: ``README.md``, a model card whose YAML metadata carries the evaluation results in the hub's
  ``model-index`` format, and ``harness_pair.json`` (:class:`ExportManifest`): what was fitted on what.

``--push-to-hub REPO`` uploads the directory; where the hub cannot be reached it says so in one line.
Reading an exported directory back is :mod:`harness.engine.exported` (``harness predict``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..engine.exported import (
    CLASSIFIER_ARRAYS,
    CLASSIFIER_JOBLIB,
    ENCODER,
    MANIFEST,
    ExportError,
    ExportManifest,
    first_line,
)
from ..results.io import usual_mode
from ..results.model import ApproachInfo
from . import one_error_path
from .pair_options import add_pair_options, open_pair

CARD = "README.md"
CARD_METRICS = (  # (key in Metrics, model-index metric type, name, args)
    ("accuracy", "accuracy", "Accuracy", None),
    ("f1_weighted", "f1", "F1 (weighted)", {"average": "weighted"}),
    ("f1_macro", "f1", "F1 (macro)", {"average": "macro"}),
)


# -- writing --


def _dataset_type(name: str) -> str:
    """The dataset's hub id where the harness knows one (``emotion`` → ``dair-ai/emotion``), else its name."""
    from ..engine.data import KNOWN_DATASETS

    known = KNOWN_DATASETS.get(name)
    return known.hub_id if known else name


def manifest_for(evaluation, max_length: int, **features) -> ExportManifest:
    metrics = evaluation.metrics
    return ExportManifest(
        suite=evaluation.suite,
        checkpoint=evaluation.checkpoint.id,
        approach=ApproachInfo(**evaluation.approach.info(evaluation.estimator.hyperparameters())),
        dataset=evaluation.dataset,
        train_split=evaluation.train_split,
        split=evaluation.split,
        labels=list(evaluation.labels),
        max_length=max_length,
        n_examples=len(evaluation.texts),
        metrics={key: getattr(metrics, key) for key, *_ in CARD_METRICS},
        format=evaluation.estimator.export_format,
        runtime=evaluation.runtime.record(),
        **features,
    )


def _write_finetune(estimator, directory: Path) -> int:
    labels = estimator.labels_
    model, tokenizer = estimator.model_, estimator.tokenizer_
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {name: i for i, name in enumerate(labels)}
    model.save_pretrained(directory)
    tokenizer.model_max_length = estimator.max_length_  # what the harness truncated to
    tokenizer.save_pretrained(directory)
    return estimator.max_length_


def _write_features(estimator, directory: Path) -> int:
    import joblib
    from safetensors.numpy import save_file

    from ..engine.inference import model_max_length

    checkpoint = estimator.checkpoint
    encoder, tokenizer = checkpoint.load_model(), checkpoint.load_tokenizer()
    max_length = estimator.max_length or model_max_length(tokenizer, encoder.config.max_position_embeddings)
    encoder.save_pretrained(directory / ENCODER)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(directory / ENCODER)
    classifier = estimator.classifier_
    joblib.dump(classifier, directory / CLASSIFIER_JOBLIB)
    arrays = {"coef": classifier.coef_, "intercept": classifier.intercept_, "classes": classifier.classes_}
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / CLASSIFIER_ARRAYS))
    return max_length


def model_card(manifest: ExportManifest, evaluation, repo: str | None = None):
    """The model card: ``model-index`` metadata (huggingface_hub's format) and how to load the directory."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    checkpoint, finetune = evaluation.checkpoint, manifest.written_as == "classifier"
    name = f"{checkpoint.short_name}-{manifest.approach.id}-{manifest.dataset}"
    results = [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            dataset_type=_dataset_type(manifest.dataset),
            dataset_name=manifest.dataset,
            dataset_split=manifest.split,
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=round(manifest.metrics[key], 4),
            metric_args=args,
        )
        for key, metric_type, metric_name, args in CARD_METRICS
    ]
    data = ModelCardData(
        model_name=name,
        eval_results=results,
        library_name="transformers" if finetune else "sklearn",
        pipeline_tag="text-classification",
        base_model=checkpoint.id if checkpoint.source != "local" else None,  # a path is no hub id
        datasets=[_dataset_type(manifest.dataset)]
        if _dataset_type(manifest.dataset) != manifest.dataset
        else None,
        tags=["harness", manifest.approach.name],
    )
    ci = evaluation.metrics.ci
    rows = []
    for key, *_ in CARD_METRICS:
        interval = getattr(ci, key, None) if ci is not None else None
        shown = f"[{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "–"
        rows.append(f"| {key} | {manifest.metrics[key]:.4f} | {shown} |")
    runtime = manifest.runtime
    params = ", ".join(f"{k}={v!r}" for k, v in manifest.approach.params.items())
    body = [
        f"# {name}",
        "",
        f"`{checkpoint.id}` with the `{manifest.approach.id}` approach ({params}), trained on the "
        f"`{manifest.train_split}` split of `{manifest.dataset}` by the `{manifest.suite}` suite of the "
        "harness. Labels: " + ", ".join(f"`{label}`" for label in manifest.labels) + ".",
        "",
        f"## Evaluation: `{manifest.dataset}` {manifest.split} split, {manifest.n_examples} texts",
        "",
        "| metric | value | 95% CI (bootstrap) |",
        "| --- | --- | --- |",
        *rows,
        "",
        f"Measured by the harness on {runtime.device}, {runtime.dtype}, batches of "
        f"{runtime.batch_size}; texts truncated to {manifest.max_length} tokens.",
        "",
        "## Use",
        "",
        *(_finetune_usage(repo) if finetune else _features_usage(manifest)),
        "",
        'Or with the harness: `harness predict DIR "some text"`.',
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body) + "\n")


def _finetune_usage(repo: str | None) -> list[str]:
    where = "" if repo else "  # DIR: this directory"
    return [
        "```python",
        "from transformers import pipeline",
        "",
        f'classifier = pipeline("text-classification", model="{repo or "DIR"}", top_k=None){where}',
        'classifier("I saw a movie today and it was really good", truncation=True)',
        "```",
    ]


def _features_usage(manifest: ExportManifest) -> list[str]:
    pooled = (
        "hidden[:, 0]"
        if manifest.pooling == "cls"
        else "(hidden * mask).sum(1) / mask.sum(1)  # mean over real tokens"
    )
    return [
        f"`encoder/` is the frozen `{manifest.checkpoint}`; `classifier.joblib` is a scikit-learn "
        f"`LogisticRegression` on its {manifest.pooling}-pooled last hidden state. Its `classes_` are "
        f"label ids: label `i` is `labels[i]` in `harness_pair.json`. `classifier.joblib` is a pickle: "
        "load it only from a source you trust (`classifier.safetensors` holds the same arrays).",
        "",
        "```python",
        "import joblib, torch",
        "from transformers import AutoModel, AutoTokenizer",
        "",
        'tokenizer = AutoTokenizer.from_pretrained("DIR/encoder")  # DIR: this directory (or its download)',
        'encoder = AutoModel.from_pretrained("DIR/encoder")',
        'classifier = joblib.load("DIR/classifier.joblib")',
        f"labels = {manifest.labels!r}",
        'batch = tokenizer(["I saw a movie today and it was really good"], padding=True, '
        'truncation=True, return_tensors="pt")',
        "with torch.no_grad():",
        "    hidden = encoder(**batch).last_hidden_state",
        'mask = batch["attention_mask"].unsqueeze(-1).float()',
        f"features = {pooled}",
        "proba = classifier.predict_proba(features.numpy())",
        "print(labels[classifier.classes_[proba[0].argmax()]])",
        "```",
    ]


def check_exportable(spec) -> None:
    from ..engine.approaches.registry import approaches_where

    if spec.cls.export_format is None:
        exportable = approaches_where(lambda cls: cls.export_format)
        raise ExportError(f"{spec.id}: export writes {' or '.join(exportable)} pairs")


def export_pair(evaluation, out: Path, repo: str | None = None) -> ExportManifest:
    """Write the evaluated (and fitted) pair to ``out``, a new or empty directory, atomically; the model
    card's example loads it from ``repo`` when it is to be pushed there."""
    from ..results import write_json

    estimator = evaluation.estimator
    check_exportable(evaluation.approach)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        if estimator.export_format == "classifier":
            manifest = manifest_for(evaluation, _write_finetune(estimator, staging))
        else:
            max_length = _write_features(estimator, staging)
            manifest = manifest_for(
                evaluation,
                max_length,
                pooling=estimator.pooling,
                classifier=estimator.classifier_.get_params(),
            )
        write_json(staging / MANIFEST, manifest)
        model_card(manifest, evaluation, repo).save(staging / CARD)
        _usual_permissions(staging)
        if out.exists():
            out.rmdir()  # empty: checked above
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _usual_permissions(directory: Path) -> None:
    """Temporary directories and atomic writes are owner-only; an export gets what the umask gives."""
    for path in [directory, *directory.rglob("*")]:
        path.chmod(usual_mode(path.is_dir()))


def check_out(out: Path) -> None:
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise ExportError(f"--out {out}: exists and is not an empty directory; expected a new or empty one")


def push_to_hub(directory: Path, repo: str) -> str | None:
    """Upload ``directory`` to the model repository ``repo``; None, or the one-line reason it failed."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    unreachable = f"cannot reach the Hugging Face Hub ({{}}); the export is in {directory}"
    if constants.HF_HUB_OFFLINE:
        return unreachable.format("HF_HUB_OFFLINE is set")
    try:
        huggingface_hub.create_repo(repo, exist_ok=True)  # fails at once when the hub is unreachable
        huggingface_hub.upload_folder(repo_id=repo, folder_path=str(directory))
    except LocalTokenNotFoundError:
        return f"no Hugging Face token (hf auth login, or HF_TOKEN); the export is in {directory}"
    except HfHubHTTPError as e:
        reason = first_line(e)
        return f"the Hugging Face Hub refused the upload to {repo} ({reason}); the export is in {directory}"
    except Exception as e:  # noqa: BLE001 - a network failure (OSError, httpx's TransportError)
        if not isinstance(e, OSError) and "TransportError" not in {c.__name__ for c in type(e).__mro__}:
            raise
        return unreachable.format(first_line(e))
    return None


# -- the command --


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="harness export",
        description="Write a fitted finetune or features-logreg pair of a suite as a directory that "
        "transformers (finetune) or joblib + transformers (features-logreg) load directly, with a model "
        "card whose metadata carries the eval-split results (model-index). The pair is fitted through "
        "the cache, as the suite fits it: fast when the suite has run.",
    )
    parser.add_argument("suite", type=Path, help="suite file, e.g. suites/test_emotion.py")
    parser.add_argument("--out", type=Path, required=True, help="the directory to write (new or empty)")
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO",
        default=None,
        help="also upload the directory to this hub model repository (user/name)",
    )
    add_pair_options(parser)
    return parser.parse_args(argv)


@one_error_path("export")
def main(argv=None) -> int:
    """0 when written (and pushed), 1 when the push failed, 2 for bad usage or input."""
    args = parse_args(argv)
    check_out(args.out)
    with contextlib.redirect_stdout(sys.stderr):  # stdout says what was written, not the Trainer's log
        pair = open_pair(args, args.suite)
        check_exportable(pair.spec)
        evaluation = pair.evaluate()
        manifest = export_pair(evaluation, args.out, args.push_to_hub)
    scores = ", ".join(f"{key} {value:.4f}" for key, value in manifest.metrics.items())
    print(f"wrote {args.out} ({pair.what}; {manifest.dataset} {manifest.split}: {scores})")
    if args.push_to_hub is None:
        return 0
    failure = push_to_hub(args.out, args.push_to_hub)
    if failure is not None:
        print(f"harness export: {failure}", file=sys.stderr)
        return 1
    print(f"pushed {args.out} to the hub repository {args.push_to_hub}")
    return 0
