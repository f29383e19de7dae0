"""Causal self-attention for training on CPU: the flash kernel forward, a matrix-product backward.

Where a LoRA step's time went (torch.profiler, S1 sequences of ~800 tokens, bf16 on a 2-core AMX
CPU, top 15 layers adapted): 40% matrix products, **26% the CPU flash-attention backward** (19 ms a
layer against 3 ms for its forward; it runs its blocks at a fraction of what a large bf16 matrix
product reaches here), 8% the flash forward. The backward below recomputes the attention
probabilities from the forward's log-sum-exp and takes every gradient with five batched matrix
products over whole (query x key) matrices, which AMX runs at ~1 TFLOPS:

    P  = exp(Q K^T * scale - lse), 0 above the diagonal     (the forward's probabilities, recomputed)
    dV = P^T dO       dP = dO V^T       dS = P * (dP - rowsum(dO * O)) * scale
    dQ = dS K         dK = dS^T Q

The same formulas as flash attention's backward (Dao et al. 2022, algorithm 4), on one block. In a
profiled step its products and fused elementwise passes take ~14 ms a layer where the flash backward
took ~19; the whole LoRA step ~7% less (scripts/bench_step.py measures it beside the previous step).
Memory: a few (heads x L x L) bf16 matrices at a time, ~12 MB each at 832 tokens, freed after each layer.

Grouped-query heads (SmolLM2: 9 query heads share 3 key/value heads) are handled without copying
keys and values in the backward: each key/value head's 3 query heads are stacked into one
(3L x D) matrix, so dK and dV sum over the group inside the products.

Used with `train.fast_step: true` when the decoder layers are compiled (inductor fuses the
elementwise steps; in eager mode they cost more than they save) and a forward pass has no padding
mask (one sequence per pass); otherwise, and for every layer that needs no gradient (the frozen
bottom layers), transformers' own SDPA path runs unchanged. Its gradients are as close to float32's
as SDPA's (scripts/bench_grad.py: 4.6% vs 4.5% relative error in bf16, cosine 0.9994 both).
"""

from __future__ import annotations

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

NAME = "tft_causal"  # the name registered with transformers' AttentionInterface


def _probs(s: torch.Tensor, lse: torch.Tensor, scale: float, n: int) -> torch.Tensor:
    """Causal probabilities from raw scores `s` (rows: the `n` query positions once per stacked head)
    and the forward's log-sum-exp; masked entries are exactly 0. Every entry's exp is computed, masked
    or not: cutting the rows into blocks that skip the masked triangle measured no faster here (2
    blocks +0.4%, 4 blocks -4% a step), the products' fixed costs eat what the exp saves."""
    row = torch.arange(s.shape[-2], device=s.device)[:, None] % n
    col = torch.arange(s.shape[-1], device=s.device)[None, :]
    return torch.where(col <= row, torch.exp(s.float() * scale - lse), 0.0).to(s.dtype)


class CausalAttention(torch.autograd.Function):
    """softmax(Q K^T * scale + causal mask) V for q (B, H, L, D), k and v (B, Hkv, L, D)."""

    @staticmethod
    def forward(ctx, q, k, v, scale: float):
        b, h, n, d = q.shape
        hkv = k.shape[1]
        group = h // hkv
        kr = k.repeat_interleave(group, dim=1) if group > 1 else k  # the flash kernel wants H heads
        vr = v.repeat_interleave(group, dim=1) if group > 1 else v
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, kr, vr, 0.0, True, scale=scale
        )
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        b, h, n, d = q.shape
        hkv = k.shape[1]
        rows = (h // hkv) * n  # a key/value head's query heads stacked: (B, Hkv, G*L, D), in q's order
        qg, dog = q.reshape(b, hkv, rows, d), grad_out.reshape(b, hkv, rows, d)
        p = _probs(qg @ k.transpose(-1, -2), lse.reshape(b, hkv, rows, 1), ctx.scale, n)
        dv = p.transpose(-1, -2) @ dog
        dp = dog @ v.transpose(-1, -2)
        delta = (dog.float() * out.reshape(b, hkv, rows, d).float()).sum(-1, keepdim=True)
        ds = (p.float() * (dp.float() - delta) * ctx.scale).to(q.dtype)
        dq = (ds @ k).reshape(b, h, n, d)
        dk = ds.transpose(-1, -2) @ qg
        return dq, dk, dv, None


def attention_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """transformers' attention interface: the custom backward where it applies, SDPA elsewhere."""
    needs_grad = torch.is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad)
    plain = (
        attention_mask is None
        and dropout == 0.0
        and query.device.type == "cpu"
        and query.shape[2] == key.shape[2]
        and query.shape[2] > 1
        and getattr(module, "is_causal", True)
        and kwargs.get("softcap") is None
    )
    if not (needs_grad and plain):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = CausalAttention.apply(query, key, value, scale)
    return out.transpose(1, 2).contiguous(), None


def use(model, mode: str, compiled: bool, micro_batch: int) -> str:
    """Set the attention a training run uses and return its name: `auto` (`train.fast_step`) picks
    this module's backward when the layers are compiled and one sequence goes through each pass,
    `custom` always (where it applies), `sdpa` never."""
    if mode not in ("auto", "custom", "sdpa"):
        raise ValueError(f"attention must be auto, custom or sdpa, got {mode!r}")
    if mode == "sdpa" or (mode == "auto" and not (compiled and micro_batch == 1)):
        return "sdpa"
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, attention_forward)
    model.set_attn_implementation(NAME)
    return NAME
