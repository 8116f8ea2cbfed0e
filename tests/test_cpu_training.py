"""The fine-tune's CPU training kernels: dropout statistics, attention, and nothing left in the fitted model."""

import copy
import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification
from transformers.models.bert.modeling_bert import eager_attention_forward

from harness import Runtime
from harness.engine.approaches import cpu_training
from harness.engine.approaches.cpu_training import (
    ATTENTION,
    FastDropout,
    cpu_training_kernels,
    fast_dropout,
    keep_mask,
    quantized,
)
from harness.engine.approaches.finetune import FineTune
from harness.engine.cache import Cache
from harness.engine.inference import class_probabilities

from .conftest import LABELS

CPU = Runtime(device="cpu")


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_mask_keeps_each_element_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    n = 400_000
    mask = keep_mask((n,), p)
    kept = mask.float().mean().item()
    assert abs(kept - (1 - quantized(p))) < 5 * (p * (1 - p) / n) ** 0.5  # five standard errors
    halves = mask.view(2, -1).float().mean(dim=1)  # no bias by position (the draws' 16-bit lanes)
    lanes = mask.view(-1, 4).float().mean(dim=0)
    assert torch.allclose(halves, torch.full_like(halves, 1 - p), atol=0.005)
    assert torch.allclose(lanes, torch.full_like(lanes, 1 - p), atol=0.005)
    pairs = (mask[:-1] & mask[1:]).float().mean().item()  # neighbours independent
    assert pairs == pytest.approx((1 - p) ** 2, abs=0.005)


def test_p_is_quantized_to_a_multiple_of_two_to_the_minus_sixteen():
    assert quantized(0.1) == 6554 / 65536 and quantized(0.5) == 0.5 and quantized(0.0) == 0.0


def test_dropout_scales_kept_values_and_zeroes_the_rest_in_both_passes():
    torch.manual_seed(1)
    x = torch.randn(64, 50, 32, requires_grad=True)
    out = fast_dropout(x, 0.1)
    kept = out != 0
    scale = 1 / (1 - quantized(0.1))
    torch.testing.assert_close(out[kept], x[kept] * scale)
    out.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() * scale)
    assert out.dtype == x.dtype and fast_dropout(x, 0.1, training=False) is x


def test_masks_follow_torch_seed():
    def draw(seed):
        torch.manual_seed(seed)
        return keep_mask((1000,), 0.3)

    assert torch.equal(draw(3), draw(3)) and not torch.equal(draw(3), draw(4))


def test_attention_trains_eagerly_with_the_mask_and_evaluates_with_sdpa(monkeypatch):
    module = torch.nn.Module()
    q, k, v = (torch.randn(2, 3, 7, 8) for _ in range(3))
    mask = torch.zeros(2, 1, 7, 7)
    mask[1, ..., 5:] = torch.finfo(torch.float32).min  # padding of the second text
    stock, _ = eager_attention_forward(module.eval(), q, k, v, mask, scaling=8**-0.5)
    evaluated, _ = cpu_training.attention(module.eval(), q, k, v, mask, scaling=8**-0.5, dropout=0.1)
    torch.testing.assert_close(evaluated, stock)
    monkeypatch.setattr(cpu_training, "keep_mask", lambda shape, p, device: torch.ones(shape, dtype=torch.bool))
    trained, weights = cpu_training.attention(module.train(), q, k, v, mask, scaling=8**-0.5, dropout=0.1)
    torch.testing.assert_close(trained, stock / (1 - quantized(0.1)))
    assert weights.shape == (2, 3, 7, 7)


def test_attention_takes_its_softmax_in_fp32_under_bf16(monkeypatch):
    torch.manual_seed(0)
    module = torch.nn.Module().train()
    q, k, v = (torch.randn(4, 12, 23, 32).to(torch.bfloat16) for _ in range(3))
    monkeypatch.setattr(cpu_training, "keep_mask", lambda shape, p, device: torch.ones(shape, dtype=torch.bool))
    _, weights = cpu_training.attention(module, q, k, v, None, scaling=1.0, dropout=0.5)
    scores = torch.matmul(q, k.transpose(2, 3))
    expected = torch.softmax(scores.float(), dim=-1).to(torch.bfloat16) * 2
    assert weights.dtype == torch.bfloat16 and torch.equal(weights, expected)


def test_kernels_are_undone_on_exit_even_after_an_error(tiny):
    model = tiny.load_model(AutoModelForSequenceClassification, new_head=True, num_labels=6)
    before = model.config._attn_implementation
    dropouts = [m for m in model.modules() if type(m) is torch.nn.Dropout]
    with pytest.raises(RuntimeError, match="boom"), cpu_training_kernels(model.train()):
        assert model.config._attn_implementation == ATTENTION
        assert sum(isinstance(m, FastDropout) for m in model.modules()) == len(dropouts) > 0
        model.eval()
        raise RuntimeError("boom")
    assert model.config._attn_implementation == before
    assert [m for m in model.modules() if type(m) is torch.nn.Dropout] == dropouts
    assert not any(isinstance(m, FastDropout) for m in model.modules())
    assert not any(m.training for m in model.modules())  # the train/eval state they had inside


def test_finetuned_model_trains_with_the_kernels_and_stays_a_plain_transformers_model(tiny, data, tmp_path, monkeypatch):
    (X, y), (X_val, _) = data["train"], data["validation"]
    draws = []
    original = cpu_training.keep_mask
    monkeypatch.setattr(cpu_training, "keep_mask", lambda *a, **k: draws.append(1) or original(*a, **k))
    model = FineTune(tiny, num_train_epochs=1, batch_size=16).fit(X[:64], y[:64], runtime=CPU, labels=LABELS)
    assert draws  # training drew its dropout masks here
    fitted = model.model_
    assert fitted.config._attn_implementation == "sdpa"
    assert not any(isinstance(m, FastDropout) for m in fitted.modules())
    fitted.save_pretrained(tmp_path)
    assert ATTENTION not in (tmp_path / "config.json").read_text()
    assert "attn_implementation" not in json.loads((tmp_path / "config.json").read_text())
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    expected = class_probabilities(reloaded, model.tokenizer_, X_val, 8, torch.device("cpu"))
    np.testing.assert_array_equal(model.predict_proba(X_val, runtime=CPU), expected)


def test_the_kernels_change_the_cache_key_and_cuda_trains_stock(tiny, data, tmp_path):
    (X, y) = data["train"]
    cache = Cache(tmp_path)
    for kernels in (True, False):
        FineTune(tiny, num_train_epochs=1, batch_size=16, cpu_kernels=kernels).fit(
            X[:32], y[:32], runtime=Runtime(device="cpu", cache=cache), labels=LABELS
        )
    assert len({key for kind, key in cache.stores if kind == "finetune"}) == 2
    model = FineTune(tiny)
    model.device_ = torch.device("cuda")
    assert not model._fast_kernels()


@pytest.mark.skipif(cpu_training._glibc() is None, reason="glibc's mallopt")
def test_retained_heap_reuses_freed_memory_instead_of_faulting_it_in_again():
    import resource

    def faults():  # like a training step: allocate 256 MB of activations, then free them all
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            tensors = [torch.ones(2 << 20) for _ in range(32)]  # 8 MB each
            del tensors
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    outside = faults()
    with cpu_training.retained_heap():
        faults()  # the first step grows the heap
        inside = faults()
    assert inside * 10 < outside


def _embedding_step(model, optimizer, batches, set_to_none=True):
    """One optimizer step over ``batches`` (accumulated), clipped like the Trainer; the gradient it used."""
    for ids in batches:
        model(ids).pow(2).sum().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    grad = model[0].weight.grad.clone()
    optimizer.step()
    model.zero_grad(set_to_none=set_to_none)
    return grad


def test_row_gradients_give_the_stock_dense_gradient_and_steps_bit_for_bit():
    torch.manual_seed(0)
    stock = torch.nn.Sequential(torch.nn.Embedding(500, 8, padding_idx=0), torch.nn.Linear(8, 3))
    rows = copy.deepcopy(stock)
    optimizers = [torch.optim.AdamW(m.parameters(), lr=0.1, weight_decay=0.01) for m in (stock, rows)]
    with cpu_training.row_gradients(rows):
        for step in range(6):
            # 1-2 accumulated batches with repeated tokens and padding; every third step zeroes in place
            batches = [torch.randint(0, 60, (4, 5)) for _ in range(1 + step % 2)]
            for ids in batches:
                ids[:, -1] = 0
            set_to_none = step % 3 != 2
            expected = _embedding_step(stock, optimizers[0], batches, set_to_none)
            got = _embedding_step(rows, optimizers[1], batches, set_to_none)
            assert got.layout == torch.strided and torch.equal(got, expected), step
            assert torch.equal(got[0], torch.zeros(8))  # the padding row gets no gradient
            assert torch.equal(rows[0].weight, stock[0].weight), step
    assert not rows[0].sparse and not rows[0].weight._backward_hooks and not rows[0].weight._post_accumulate_grad_hooks
    rows(torch.tensor([[1, 2]])).sum().backward()
    assert rows[0].weight.grad.layout == torch.strided  # stock again after the block


def test_row_gradients_leave_distributed_and_unusual_tables_stock(monkeypatch):
    plain = torch.nn.Embedding(10, 4)
    unusual = [torch.nn.Embedding(10, 4, max_norm=1.0), torch.nn.Embedding(10, 4, scale_grad_by_freq=True)]
    assert cpu_training.RowGradient.applies(plain)
    assert not any(cpu_training.RowGradient.applies(table) for table in unusual)
    plain.weight.requires_grad_(False)
    assert not cpu_training.RowGradient.applies(plain)
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun: DDP reduces dense gradients
    table = torch.nn.Embedding(10, 4)
    with cpu_training.row_gradients(table):
        assert not table.sparse
