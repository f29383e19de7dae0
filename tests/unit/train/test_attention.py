"""The training attention (tft_utils/train/attention.py): flash forward, matrix-product backward.
Its output and gradients equal SDPA's (float32: to rounding; bf16: to bf16's precision), with
grouped key/value heads and padded lengths; it steps aside wherever it does not apply."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tft_utils.train.attention import NAME, CausalAttention, attention_forward, use

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def qkv(heads: int, kv_heads: int, n: int, dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, heads, n, 16, generator=g, dtype=torch.float32).to(dtype).requires_grad_()
    k = torch.randn(1, kv_heads, n, 16, generator=g, dtype=torch.float32).to(dtype).requires_grad_()
    v = torch.randn(1, kv_heads, n, 16, generator=g, dtype=torch.float32).to(dtype).requires_grad_()
    return q, k, v


def both(heads, kv_heads, n, dtype):
    """(SDPA's output and gradients, ours) for the same inputs and upstream gradient."""
    q, k, v = qkv(heads, kv_heads, n, dtype)
    grad = torch.randn(1, heads, n, 16, generator=torch.Generator().manual_seed(1)).to(dtype)
    results = []
    for f in (
        lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True, scale=0.3),
        lambda: CausalAttention.apply(q, k, v, 0.3),
    ):
        out = f()
        out.backward(grad)
        results.append([out.detach().float()] + [t.grad.float() for t in (q, k, v)])
        for t in (q, k, v):
            t.grad = None
    return results


@pytest.mark.parametrize("heads,kv_heads,n", [(9, 3, 37), (4, 4, 64), (6, 2, 1)])
def test_float32_matches_sdpa(heads, kv_heads, n):
    ref, ours = both(heads, kv_heads, n, torch.float32)
    for name, a, b in zip(("out", "dq", "dk", "dv"), ref, ours, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), name


def test_bfloat16_matches_sdpa_to_its_precision():
    ref, ours = both(9, 3, 96, torch.bfloat16)
    for name, a, b in zip(("out", "dq", "dk", "dv"), ref, ours, strict=True):
        assert (a - b).abs().max() <= 0.03 * a.abs().max(), name  # bf16 keeps ~3 significant digits


def nodes(t) -> str:
    """The names of the autograd nodes behind a tensor."""
    names, todo = [], [t.grad_fn]
    while todo:
        f = todo.pop()
        if f is not None:
            names.append(type(f).__name__)
            todo += [g for g, _ in f.next_functions]
    return " ".join(names)


class _Module:
    is_causal = True
    num_key_value_groups = 3


def test_steps_aside_without_gradients_or_with_a_mask():
    """No gradient wanted (the frozen bottom layers, prediction) or a padding mask (several sequences
    a pass): transformers' SDPA path runs, so the result carries no CausalAttention node."""
    q, k, v = qkv(9, 3, 12, torch.float32)
    out, _ = attention_forward(_Module(), q, k, v, None, scaling=0.25)
    assert "CausalAttention" in nodes(out)
    with torch.no_grad():
        plain, _ = attention_forward(_Module(), q, k, v, None, scaling=0.25)
    assert torch.allclose(plain, out.detach(), atol=1e-5)  # same layout (B, L, H, D) and values
    mask = torch.ones(1, 1, 12, 12, dtype=torch.bool).tril()
    masked, _ = attention_forward(_Module(), q, k, v, mask, scaling=0.25)
    assert "CausalAttention" not in nodes(masked) and torch.allclose(masked, plain, atol=1e-5)


def test_use_picks_by_mode():
    with pytest.raises(ValueError, match="attention must be auto, custom or sdpa, got 'flash'"):
        use(None, "flash", True, 1)
    assert use(None, "sdpa", True, 1) == "sdpa"
    # eager layers: the elementwise steps cost more than they save
    assert use(None, "auto", False, 1) == "sdpa"
    assert use(None, "auto", True, 4) == "sdpa"  # padded passes carry a mask


def test_custom_is_set_on_the_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    ids = torch.randint(0, 64, (1, 20))
    ref = model(input_ids=ids, labels=ids).loss
    ref.backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    assert use(model, "custom", False, 1) == NAME and model.config._attn_implementation == NAME
    loss = model(input_ids=ids, labels=ids).loss
    assert "CausalAttentionBackward" in nodes(loss)
    loss.backward()
    assert torch.allclose(loss, ref, atol=1e-6)
    assert all(torch.allclose(p.grad, ref_grads[n], atol=1e-5) for n, p in model.named_parameters())
