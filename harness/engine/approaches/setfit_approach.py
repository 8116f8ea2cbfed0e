"""SetFit: contrastive fine-tuning of a sentence encoder on pairs of examples, then a logistic-regression
head on its embeddings (the ``setfit`` library; ``pip install 'harness[fewlabels]'``).

The body loads through sentence-transformers from the checkpoint's own files (no remote code, and no
``model_head.pkl`` pickle is ever read: the head always starts fresh). The trained body (safetensors)
and head (its coefficients, safetensors) are cached, keyed like fine-tuning.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np

from ..cache import examples_digest
from ..checkpoints import CheckpointError
from ...errors import NotApplicable
from ..runtime import Runtime
from ..scratch import scratch_dir
from .base import Approach
from .registry import ApproachError, register_approach

HEAD_ARRAYS = ("coef_", "intercept_", "classes_")


def require_libraries() -> None:
    """Raise ``NotApplicable`` (the pair is skipped with this reason) where setfit or
    sentence-transformers cannot be imported."""
    for library in ("sentence_transformers", "setfit"):
        try:
            importlib.import_module(library)
        except ImportError:
            missing = library
            break
    else:
        return
    raise NotApplicable(
        f"approach 'setfit' needs the {missing} library, not installed here: pip install 'harness[fewlabels]'"
    )


def sentence_body(checkpoint, device):
    """The checkpoint as a ``SentenceTransformer`` (its modules.json, else mean pooling); remote code
    is refused."""
    from sentence_transformers import SentenceTransformer

    checkpoint.load_tokenizer()  # refuses auto_map (remote code) and unusable tokenizers
    foreign = foreign_modules(checkpoint)
    if foreign:
        raise CheckpointError(
            f"checkpoint {checkpoint.id!r}: modules.json names module types {foreign}; expected "
            "sentence_transformers modules only (the harness never imports code a checkpoint names)"
        )
    return SentenceTransformer(checkpoint.location, device=str(device), trust_remote_code=False)


def foreign_modules(checkpoint) -> list[str]:
    """The module types a local checkpoint's ``modules.json`` names outside sentence-transformers (a hub
    checkpoint's are refused by sentence-transformers itself without ``trust_remote_code``)."""
    path = Path(checkpoint.location) / "modules.json"
    if checkpoint.source == "hub" or not path.is_file():
        return []
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {checkpoint.id!r}: {path} is not valid JSON ({e})") from None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise CheckpointError(f"checkpoint {checkpoint.id!r}: {path}: expected a list of module objects")
    return [
        str(m.get("type")) for m in modules if not str(m.get("type", "")).startswith("sentence_transformers.")
    ]


def save_head(head, path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(getattr(head, name)) for name in HEAD_ARRAYS}, str(path))


def load_head(path: Path):
    """A fitted ``LogisticRegression`` rebuilt from its coefficients (no pickle)."""
    from safetensors.numpy import load_file
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression()
    for name, value in load_file(str(path)).items():
        setattr(head, name, value)
    head.n_features_in_ = head.coef_.shape[1]
    return head


@register_approach("setfit")
class SetFit(Approach):
    """SetFit with its library's defaults unless given: ``batch_size`` 16 pairs, ``num_iterations``
    (pairs per example: 2 × num_iterations × n examples; None: setfit's oversampling of all pairs),
    ``max_steps`` (caps the body's training steps; -1: no cap), ``num_epochs`` 1, ``body_learning_rate``
    2e-5, ``head_params`` (``LogisticRegression`` arguments), ``training_args`` (any other
    ``setfit.TrainingArguments``)."""

    def __init__(
        self,
        checkpoint=None,
        batch_size=16,
        num_iterations=None,
        max_steps=-1,
        num_epochs=1,
        body_learning_rate=2e-5,
        head_params=None,
        seed=42,
        training_args=None,
    ):
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.num_iterations = num_iterations
        self.max_steps = max_steps
        self.num_epochs = num_epochs
        self.body_learning_rate = body_learning_rate
        self.head_params = head_params
        self.seed = seed
        self.training_args = training_args

    def fit(self, X, y, *, runtime=None, labels=(), eval_set=None):
        """Train on (X, y); ``eval_set`` is not used (SetFit has no model selection here)."""
        require_libraries()
        runtime = runtime or Runtime()
        self.device_ = runtime.torch_device()
        parts = {
            "params": self.hyperparameters(),
            "checkpoint": self.checkpoint.fingerprint(),
            "train": examples_digest(X, y),
        }

        def train():
            body, head, history = self._train(X, y)
            return (body, head), {"history": history}

        def save(trained, directory):
            body, head = trained
            body.save(str(directory / "body"), safe_serialization=True)
            save_head(head, directory / "head.safetensors")

        def load(directory):
            from sentence_transformers import SentenceTransformer

            body = SentenceTransformer(
                str(directory / "body"), device=str(self.device_), trust_remote_code=False
            )
            return body, load_head(directory / "head.safetensors")

        (body, head), meta, _ = runtime.cached("setfit", parts, train, save, load, ("history",))
        self.history_ = meta["history"]
        from setfit import SetFitModel

        self.model_ = SetFitModel(model_body=body, model_head=head)
        self.classes_ = np.asarray(head.classes_)
        return self

    def _train(self, X, y):
        """Contrastive body training then the head; returns (body, head, the body's training log)."""
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments
        from sklearn.linear_model import LogisticRegression

        model = SetFitModel(
            model_body=sentence_body(self.checkpoint, self.device_),
            model_head=LogisticRegression(**(self.head_params or {})),
        )
        with scratch_dir("setfit") as output_dir:  # removed on every exit path, even a kill
            try:
                args = TrainingArguments(
                    output_dir=output_dir,
                    batch_size=self.batch_size,
                    num_iterations=self.num_iterations,
                    max_steps=self.max_steps,
                    num_epochs=self.num_epochs,
                    body_learning_rate=self.body_learning_rate,
                    seed=self.seed,
                    report_to="none",
                    show_progress_bar=False,
                    save_strategy="no",
                    **(self.training_args or {}),
                )
            except TypeError as e:
                raise ApproachError(f"approach 'setfit': training_args: {e}") from None
            data = Dataset.from_dict({"text": list(X), "label": [int(label) for label in y]})
            trainer = Trainer(model=model, args=args, train_dataset=data)
            trainer.train()
            history = [
                {k: v for k, v in entry.items() if isinstance(v, (int, float))}
                for entry in trainer.st_trainer.state.log_history
            ]
        return model.model_body, model.model_head, json.loads(json.dumps(history))

    def predict_proba(self, X, *, runtime=None) -> np.ndarray:
        runtime = runtime or Runtime()
        return np.asarray(
            self.model_.predict_proba(list(X), batch_size=runtime.batch_size, as_numpy=True), dtype=np.float64
        )
