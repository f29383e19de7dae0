"""LoRA fine-tuning of the student on whole conversations (STUDY §4-5).

One training sequence per conversation, loss on the call tokens of *every* assistant turn and on
nothing else. That is the same signal as expanding a conversation into one example per turn
(each turn's call conditioned on the same gold history), for far fewer tokens: a 10-turn
conversation of ~1400 tokens costs 1400 tokens once instead of ~10 prefixes averaging ~700
(scripts/bench_train.py measures the ratio). The logits are computed only at the supervised
positions (`logits_to_keep`), which skips the 49152-way output layer for ~2/3 of the tokens.

Conversations longer than `train.max_tokens` (policy `train.long_policy`):
- `split` (default): cut before the first assistant turn that does not fit and start a new
  sequence there: system prompt + as many of the preceding messages as fit in half the budget
  (starting at a user message), so late turns are still trained, with recent context;
- `truncate`: keep the first `max_tokens` tokens; turns whose call does not fit lose their loss.

Budgets: `train.max_steps` optimizer steps (0: `train.epochs` passes over the sequences), each
over `train.conversations_per_step` sequences. Checkpoints every `train.save_every` steps under
OUT/checkpoint; rerunning the same command resumes there. Seeded (`train.seed`, else `run.seed`).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from pathlib import Path

from tft_utils.io import DataError, read_json, read_jsonl, write_json
from tft_utils.render import Renderer

RENDER_FILE = "tft_render.json"


# --------------------------------------------------------------------------- inputs


def conversations_from_rows(rows: list[dict], where: str = "input") -> list[dict]:
    """Traces (`messages`) as they are; per-turn pairs (`question`, `answer`) regrouped by
    `dialogue_id` into whole conversations (the longest question + its answer), so each turn is
    supervised once. Pairs without a dialogue_id become one conversation each."""
    if all("messages" in r for r in rows):
        return [
            {"dialogue_id": r.get("dialogue_id", str(i)), "messages": r["messages"]}
            for i, r in enumerate(rows)
        ]
    convs: dict[str, dict] = {}
    for lineno, r in enumerate(rows, 1):
        if "question" not in r or "answer" not in r:
            raise DataError(f"{where}:{lineno}: expected a trace (messages) or a pair (question, answer)")
        try:
            question = json.loads(r["question"]) if isinstance(r["question"], str) else r["question"]
            answer = json.loads(r["answer"]) if isinstance(r["answer"], str) else r["answer"]
            call = {
                "name": answer["name"],
                "arguments": answer.get("parameters", answer.get("arguments", {})),
            }
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(
                f"{where}:{lineno}: field question/answer is not a conversation + call ({e})"
            ) from e
        msgs = list(question) + [
            {"role": "assistant", "tool_calls": [{"type": "function", "function": call}]}
        ]
        key = str(r.get("dialogue_id", f"row{lineno}"))
        if key not in convs or len(msgs) > len(convs[key]["messages"]):
            convs[key] = {"dialogue_id": key, "messages": msgs}
    return list(convs.values())


def encode(
    renderer: Renderer, conv: dict, max_tokens: int, policy: str = "split", unit: str = "conversation"
):
    """Token sequences {ids, mask} of one conversation (several under `split` or `unit=turn`); a
    sequence with no supervised token (every call in it masked or cut by the budget) is left out."""
    return [s for s in _sequences(renderer, conv, max_tokens, policy, unit) if any(s["mask"])]


def _sequences(renderer: Renderer, conv: dict, max_tokens: int, policy: str, unit: str):
    msgs, where = conv["messages"], f"conversation {conv.get('dialogue_id')}"
    ids, mask, turns = renderer.conversation_ids(msgs, where)
    if unit == "turn":  # per-turn expansion (for the benchmark): one sequence per assistant turn
        return [
            {"ids": ids[:end], "mask": [False] * start + mask[start:end]}
            for _, start, end in turns
            if end <= max_tokens
        ]
    if len(ids) <= max_tokens:
        return [{"ids": ids, "mask": mask}]
    if policy == "truncate":
        mask = mask[:max_tokens]
        for _, start, end in turns:  # a call cut by the budget loses its loss (not trained half-way)
            if end > max_tokens:
                mask[start:] = [False] * len(mask[start:])
        return [{"ids": ids[:max_tokens], "mask": mask}]
    if policy != "split":
        raise ValueError(f"train.long_policy must be split or truncate, got {policy!r}")
    out, first, fresh = [], 0, 0  # messages[first:] is rendered; turns before `fresh` were trained
    while True:
        sub = msgs[first:]
        s_ids, s_mask, s_turns = renderer.conversation_ids(sub, where)
        for i, start, end in s_turns:  # context turns repeated from the previous sequence: no loss
            if first + i < fresh:
                s_mask[start:end] = [False] * (end - start)
        fits = [t for t in s_turns if t[2] <= max_tokens]
        if not fits:  # the first turn does not fit: retry it with no context, skip it if it still does not
            if not s_turns:
                break
            nxt = first + s_turns[0][0]
            first = nxt if nxt > first else nxt + 1
            fresh = max(fresh, first)
            continue
        cut = fits[-1][2]
        out.append({"ids": s_ids[:cut], "mask": s_mask[:cut]})
        if len(fits) == len(s_turns):
            break
        nxt = first + s_turns[len(fits)][0]  # message index of the first turn that did not fit
        start = nxt
        while start > first + 1:  # extend context backwards while it fits in half the budget
            cand = msgs[start - 1 : nxt]
            if len(renderer.prompt_ids(cand)) > max_tokens // 2:
                break
            start -= 1
        while start < nxt and msgs[start].get("role") != "user":
            start += 1
        first, fresh = (start if start > first else nxt), nxt
    return out


# --------------------------------------------------------------------------- model


def _loss(model, seq: dict, device: str):
    """Summed cross-entropy over the supervised tokens of one sequence, and their count."""
    import torch
    import torch.nn.functional as F

    ids = torch.tensor([seq["ids"]], device=device)
    # position p predicts token p+1: keep logits where the *next* token carries loss
    targets = [p for p in range(1, len(seq["ids"])) if seq["mask"][p]]
    keep = torch.tensor([p - 1 for p in targets], device=device)
    logits = model(input_ids=ids, logits_to_keep=keep).logits[0].float()
    labels = ids[0, torch.tensor(targets, device=device)]
    return F.cross_entropy(logits, labels, reduction="sum"), len(targets)


def _plot(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], lw=1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per supervised token")
    ax.set_title("student training loss")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train(
    conversations: list[dict],
    out: str | Path,
    params: dict,
    tools: list[dict],
    base: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Fine-tune the base student on `conversations`; write the merged model to `out`; return stats."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from peft.utils import get_peft_model_state_dict
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from tft_utils.student import base_model_dir, load_student

    cfg, out = params["train"], Path(out)
    seed = cfg["seed"] if cfg["seed"] is not None else params["run"]["seed"]
    base = base or base_model_dir(params["student"]["model"], params["student"]["cache_dir"])
    random.seed(seed)
    torch.manual_seed(seed)
    model, tok = load_student(base, params["student"]["device"], params["student"]["dtype"])
    device = next(model.parameters()).device.type
    renderer = Renderer.create(tok, tools)
    seqs = [
        s
        for c in conversations
        for s in encode(renderer, c, cfg["max_tokens"], cfg["long_policy"], cfg["unit"])
    ]
    if not seqs:
        raise DataError("no training sequence: every conversation is empty or longer than train.max_tokens")
    per_step = cfg["conversations_per_step"]
    steps = cfg["max_steps"] or math.ceil(cfg["epochs"] * len(seqs) / per_step)
    # the order of every epoch is fixed by the seed, so a resumed run sees the same sequences
    order = []
    for epoch in range(math.ceil(steps * per_step / len(seqs))):
        idx = list(range(len(seqs)))
        random.Random(seed * 1000 + epoch).shuffle(idx)
        order += idx

    model.train()
    model = get_peft_model(
        model,
        LoraConfig(
            r=cfg["lora_r"],
            lora_alpha=cfg["lora_alpha"],
            lora_dropout=cfg["lora_dropout"],
            target_modules=list(cfg["target_modules"]),
            task_type="CAUSAL_LM",
        ),
    )
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg["lr"], weight_decay=0.0
    )
    sched = get_linear_schedule_with_warmup(opt, cfg["warmup_steps"], steps)
    ckpt, step, history, tokens, seconds = out / "checkpoint", 0, [], 0, 0.0
    if (ckpt / "state.pt").exists():  # resume where a previous run stopped
        state = torch.load(ckpt / "state.pt", weights_only=False)
        set_peft_model_state_dict(model, state["adapter"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        step, history, tokens, seconds = state["step"], state["history"], state["tokens"], state["seconds"]

    bar = tqdm(total=steps, initial=step, desc="train", disable=not progress)
    while step < steps:
        t0 = time.perf_counter()
        batch = [seqs[i] for i in order[step * per_step : (step + 1) * per_step]]
        n_sup = sum(sum(s["mask"][1:]) for s in batch)
        total = 0.0
        for s in batch:
            loss, _ = _loss(model, s, device)
            (loss / n_sup).backward()  # mean over the step's supervised tokens
            total += loss.item()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens += sum(len(s["ids"]) for s in batch)
        seconds += time.perf_counter() - t0
        history.append({"step": step, "loss": total / n_sup, "tokens": tokens, "seconds": round(seconds, 2)})
        bar.update(1)
        bar.set_postfix(loss=f"{total / n_sup:.3f}", tok_s=f"{tokens / seconds:.0f}")
        if step % cfg["save_every"] == 0 and step < steps:
            tmp = out / "checkpoint.tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "adapter": get_peft_model_state_dict(model),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                    "step": step,
                    "history": history,
                    "tokens": tokens,
                    "seconds": seconds,
                },
                tmp / "state.pt",
            )
            shutil.rmtree(ckpt, ignore_errors=True)
            tmp.rename(ckpt)
    bar.close()

    merged = model.merge_and_unload()
    merged.eval()
    final = out.parent / f".{out.name}.saving"
    shutil.rmtree(final, ignore_errors=True)
    merged.save_pretrained(final, safe_serialization=True)
    tok.save_pretrained(final)
    stats = {
        "base": str(base),
        "conversations": len(conversations),
        "sequences": len(seqs),
        "steps": steps,
        "tokens": tokens,
        "supervised_tokens": sum(sum(seqs[i]["mask"]) for i in order[: steps * per_step]),
        "seconds": round(seconds, 1),
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "final_loss": round(sum(h["loss"] for h in history[-5:]) / len(history[-5:]), 4),
        "device": device,
        "dtype": str(next(merged.parameters()).dtype).replace("torch.", ""),
        "seed": seed,
    }
    write_json(final / RENDER_FILE, renderer.config())
    write_json(final / "train_stats.json", {**stats, "history": history, "train_params": cfg})
    _plot(history, final / "loss.png")
    shutil.rmtree(ckpt, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)  # absent when no checkpoint was ever written
    for name in list(final.iterdir()):  # move into place; `out` may hold only the checkpoint
        target = out / name.name
        if target.is_dir():
            shutil.rmtree(target)
        name.replace(target)
    final.rmdir()
    return stats


def load_tools(path: str | Path) -> list[dict]:
    tools = read_json(path)
    if not isinstance(tools, list) or not all(isinstance(t, dict) and "function" in t for t in tools):
        raise DataError(f"{path}: expected a JSON list of OpenAI tool schemas")
    return tools


def train_file(train_path, out, params, tools_path, base=None, progress=True) -> dict:
    convs = conversations_from_rows(read_jsonl(train_path), str(train_path))
    return train(convs, out, params, load_tools(tools_path), base=base, progress=progress)


# --------------------------------------------------------------------------- CLI


def add_cli(subparsers) -> None:
    from tft_utils import cli

    p = subparsers.add_parser("train", help="LoRA fine-tune the student on traces or per-turn pairs")
    p.add_argument("train_file", help="JSONL of traces (messages) or pairs (question, answer)")
    p.add_argument("--out", required=True, help="model folder to write (merged weights + tokenizer)")
    p.add_argument("--tools", required=True, help="tools.json of the target schema (from `tft data`)")
    p.add_argument("--base", default=None, help="base model folder or Hub id (default: student.model)")
    cli.add_params_args(p)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from tft_utils import cli

    params = cli.params_from_args(args)
    stats = train_file(args.train_file, args.out, params, args.tools, base=args.base)
    print(json.dumps(stats, indent=2))
    return 0
