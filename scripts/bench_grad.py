"""How far a bf16 LoRA step's gradient lies from float32's, the previous step beside today's, same sequences.

For each of `--n` training sequences (the train pool, seeded), the LoRA gradient of the summed loss is
taken three times from the same adapter weights (B drawn small instead of LoRA's zeros, so every
adapter gets a gradient): in float32 with transformers' SDPA attention (the reference), and in
bf16 with the decoder layers compiled as training runs them, once with the previous step (SDPA
attention, eager output-layer loss) and once with today's (`train.attention: custom`, compiled
output-layer loss), then both again with `train.amp` (the float32 adapters' products in bf16).
Printed per variant: the gradient's relative error ||g - g32|| / ||g32|| and its cosine with the
reference, mean and worst over the sequences; then the CPU. If today's errors match
the previous step's, the two train the same function to the same precision and any difference in
what their students learn is a bf16 trajectory's chance, not the kernel.

Usage: python scripts/bench_grad.py [--n 8] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_learning import cpu_info  # noqa: E402
from bench_train import pool_sequences  # noqa: E402

from tft_utils.core.params import load_params  # noqa: E402
from tft_utils.train.loop import _batch_loss, _core, autocast, compile_layers, with_lora  # noqa: E402


def student(base, cfg, dtype, attention, compiled, lora=None):
    """The base with LoRA adapters: `lora`'s weights, else peft's A and B drawn small (seeded)."""
    import torch

    from tft_utils.train.attention import use
    from tft_utils.train.student import load_student

    model, tok = load_student(base, "cpu", dtype)
    model.train()
    model = with_lora(model, cfg)
    gen = torch.Generator().manual_seed(0)
    for name, p in sorted(model.named_parameters()):
        if lora is not None and p.requires_grad:
            p.data = lora[name].to(p.dtype)
        elif "lora_B" in name:  # peft's B is zero: no gradient would reach A
            p.data = (torch.randn(p.shape, generator=gen) * 0.01).to(p.dtype)
    if compiled:
        compile_layers(model, "inductor", "cpu")
    use(_core(model), attention, compiled, 1)
    return model, tok


def grads(model, tok, seqs, pad_multiple, head, amp=False) -> list:
    import torch

    out = []
    for s in seqs:
        with autocast(model, amp):
            loss, _ = _batch_loss(model, [s], "cpu", tok.pad_token_id, pad_multiple, compiled=head)
        loss.backward()
        g = torch.cat(
            [p.grad.float().flatten() for _, p in sorted(model.named_parameters()) if p.requires_grad]
        )
        out.append(g)
        model.zero_grad(set_to_none=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu", help="params profile: its student and LoRA recipe")
    ap.add_argument("--n", type=int, default=8, help="sequences")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params(args.profile)
    cfg = params["train"]
    base, seqs = pool_sequences(params, 60)
    seqs = seqs[: args.n]

    torch.manual_seed(0)
    model, tok = student(base, cfg, "float32", "sdpa", False)
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    ref = grads(model, tok, seqs, cfg["pad_multiple"], False)
    res = {}
    variants = (  # name, attention, compiled output-layer loss, train.amp
        ("previous", "sdpa", False, False),
        ("now", "custom", True, False),
        ("amp", "sdpa", False, True),
        ("now+amp", "custom", True, True),
    )
    for name, attention, head, amp in variants:
        torch._dynamo.reset()
        model, tok = student(base, cfg, "bfloat16", attention, True, lora)
        got = grads(model, tok, seqs, cfg["pad_multiple"], head, amp)
        err = [((g - r).norm() / r.norm()).item() for g, r in zip(got, ref, strict=True)]
        cos = [
            torch.nn.functional.cosine_similarity(g, r, dim=0).item() for g, r in zip(got, ref, strict=True)
        ]
        res[name] = {
            "rel_err_mean": round(sum(err) / len(err), 5),
            "rel_err_max": round(max(err), 5),
            "cosine_mean": round(sum(cos) / len(cos), 6),
            "cosine_min": round(min(cos), 6),
        }
    print(
        f"{'bf16 step':<10} {'rel. error mean / max':>24} {'cosine mean / min':>22}   (vs float32 SDPA, {args.n} sequences)"
    )
    for name, r in res.items():
        print(
            f"{name:<10} {r['rel_err_mean']:>11.5f} / {r['rel_err_max']:<10.5f} "
            f"{r['cosine_mean']:>10.6f} / {r['cosine_min']:<10.6f}"
        )
    cpu, isa = cpu_info()
    print(f"CPU: {cpu} ({isa}), {torch.get_num_threads()} torch threads")
    out = {"variants": res, "cpu": cpu, "isa": isa, "threads": torch.get_num_threads(), "sequences": args.n}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
