"""Fine-tuning (LoRA or every weight) of the student on whole conversations (STUDY §4-5).

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

import functools
import json
import math
import random
import re
import shutil
import time
from pathlib import Path

from tft_utils.core.io import DataError, numbered_jsonl, write_json
from tft_utils.domain.messages import checked_messages
from tft_utils.train.bottom import base_identity
from tft_utils.train.render import RENDER_FILE, TASK_PROMPT, Renderer

# train.* keys that never change a model's weights (how often a checkpoint is written, the memory notebook 05
# keeps for the frozen bottom's outputs): left out of the students' and the tool base's fingerprints
NOT_IN_WEIGHTS = ("save_every", "shared_bottom_mb")


# --------------------------------------------------------------------------- inputs


def read_conversations(path) -> list[dict]:
    """`conversations_from_rows` of a JSONL file, errors naming its lines."""
    numbered = list(numbered_jsonl(path))
    return conversations_from_rows([r for _, r in numbered], str(path), [n for n, _ in numbered])


def conversations_from_rows(
    rows: list[dict], where: str = "input", lines: list[int] | None = None
) -> list[dict]:
    """Traces (`messages`) as they are; per-turn pairs (`question`, `answer`) regrouped by `dialogue_id`
    into whole conversations (the longest question + its answer), so each turn is supervised once. Pairs
    without a dialogue_id become one conversation each. Messages are checked (`domain.messages`); a
    DataError names `where` and the row's line (`lines`: the file's line numbers; default 1, 2, ...)."""
    numbered = list(zip(lines or range(1, len(rows) + 1), rows, strict=True))
    if all("messages" in r for _, r in numbered):  # (none at all: an arm's empty synthetic set)
        return [
            {
                "dialogue_id": r.get("dialogue_id", str(i)),
                "messages": checked_messages(r["messages"], f"{where}:{line}"),
            }
            for i, (line, r) in enumerate(numbered)
        ]
    convs: dict[str, dict] = {}
    for lineno, r in numbered:
        if "question" not in r or "answer" not in r:
            raise DataError(f"{where}:{lineno}: expected a trace (messages) or a pair (question, answer)")
        try:
            question = json.loads(r["question"]) if isinstance(r["question"], str) else r["question"]
            answer = json.loads(r["answer"]) if isinstance(r["answer"], str) else r["answer"]
            call = {
                "name": answer["name"],
                "arguments": answer.get("parameters", answer.get("arguments", {})),
            }
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise DataError(
                f"{where}:{lineno}: field question/answer is not a conversation + call ({e})"
            ) from e
        if question:  # empty when a conversation opens with the assistant (S5's shuffled traces)
            question = checked_messages(question, f"{where}:{lineno}: field question")
        msgs = list(question) + [
            {"role": "assistant", "tool_calls": [{"type": "function", "function": call}]}
        ]
        key = str(r.get("dialogue_id", f"row{lineno}"))
        if key not in convs or len(msgs) > len(convs[key]["messages"]):
            convs[key] = {"dialogue_id": key, "messages": msgs}
    return list(convs.values())


def encode(
    renderer: Renderer,
    conv: dict,
    max_tokens: int,
    policy: str = "split",
    unit: str = "conversation",
    call_weight: float = 1.0,
):
    """Token sequences {ids, mask} of one conversation (several under `split` or `unit=turn`); a
    sequence with no supervised token (every call in it masked or cut by the budget) is left out.
    With `call_weight` != 1 each sequence also carries `weights` {position: weight} for the tokens
    that name the tool of each supervised call (see `decision_positions`)."""
    out = [s for s in _sequences(renderer, conv, max_tokens, policy, unit) if any(s["mask"])]
    if call_weight != 1.0:
        for s in out:
            s["weights"] = {p: call_weight for p in decision_positions(renderer, s["ids"], s["mask"])}
    return out


_NAME = re.compile(r'^(<tool_call>\n\{"name": )"[^"]*"')


def decision_positions(renderer: Renderer, ids: list[int], mask: list[bool]) -> list[int]:
    """Positions of the tokens of the tool's name in every supervised call, quotes included:
    `"ReserveRestaurant"` in `<tool_call>\\n{"name": "ReserveRestaurant", ...` (~4 SmolLM2 tokens of
    a ~40-token call; the fixed prefix before it is learnt in a few steps anyway). The name
    decides *whether* to call a service or reply; it is 1 of ~5 such decisions per conversation
    (S1: ~8 replies for ~2 service calls), diluted among ~30 argument and message tokens per call,
    so `train.call_weight` multiplies its loss."""
    out, p = [], 0
    while p < len(ids):
        if not mask[p]:
            p += 1
            continue
        end = p
        while end < len(ids) and mask[end]:
            end += 1
        m = _NAME.match(renderer.tokenizer.decode(ids[p:end]))
        if m:  # the prefixes' own tokenizations count the tokens before and through the name
            first = len(renderer.ids(m.group(1))) - 1  # the token holding the opening quote
            out += range(p + max(first, 0), min(end, p + len(renderer.ids(m.group(0)))))
        p = end
    return out


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


def _core(model):
    """The transformers model under peft's wrapper (or the model itself when it has none)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def padded_width(batch: list[dict], multiple: int = 1) -> int:
    """The width of a forward pass: its longest sequence, rounded up to `train.pad_multiple`."""
    return -(-max(len(s["ids"]) for s in batch) // multiple) * multiple


def _head_ce(hidden, weight, bias, target):
    """Summed cross-entropy of the output layer at the given rows (float32 log-softmax)."""
    import torch.nn.functional as F

    return F.cross_entropy(F.linear(hidden, weight, bias).float(), target, reduction="sum", ignore_index=-100)


@functools.cache
def _head_ce_compiled():
    """`_head_ce` compiled by inductor: the float32 cast, log-softmax and its backward over the
    49152-way rows fuse into two passes instead of five (S1, top-15 LoRA, bf16 on a 2-core AMX CPU:
    ~5% a step, scripts/bench_step.py)."""
    import torch

    return torch.compile(_head_ce, dynamic=True)


def autocast(model, on: bool):
    """`train.amp`: a context in which the float32 LoRA adapters multiply in the student's own dtype.

    peft keeps a bf16 student's adapters in float32 (its `autocast_adapter_dtype`), so their products
    run in float32, off the CPU's bf16 matrix units, while every other product of the step is bf16.
    Under torch.autocast they are cast to bf16 for the products only (float32 accumulation, as the
    frozen weights' own products); the weights, their gradients and AdamW stay float32: mixed
    precision as usual. A float32 student (no bf16 units, `student.dtype: auto`) runs unchanged."""
    import contextlib

    import torch

    if not amp_applies(model, on):
        return contextlib.nullcontext()
    first = next(model.parameters())  # peft puts the frozen base weights first
    return torch.autocast(first.device.type, dtype=first.dtype)


def amp_applies(model, on: bool) -> bool:
    """Whether `train.amp` changes anything: asked for, and the student is bf16 or fp16."""
    import torch

    return bool(on) and next(model.parameters()).dtype in (torch.bfloat16, torch.float16)


def _batch_loss(
    model,
    batch: list[dict],
    device: str,
    pad_id: int,
    multiple: int = 1,
    row_multiple: int | None = None,
    compiled: bool = False,
    bottom=None,
):
    """Summed cross-entropy over the supervised tokens of a micro-batch of sequences (right-padded
    into one forward pass, to a multiple of `multiple` tokens), and their count. The output layer
    (49152 x hidden) runs only at the supervised positions: ~1/3 of the tokens; their count is padded
    to a multiple of `row_multiple` (None: `multiple`; scripts/bench_shapes.py compares 1).

    Why pad to a multiple: CPU bf16 kernels (oneDNN, AMX) are built and cached per matrix shape, so
    every new sequence length costs a build and ~20 MB that stays; over 400 steps of lengths 300-1000
    a LoRA student slowed from ~350 to ~165 tokens/s and grew from 4 to 8 GB. Rounded up to 64, at
    most 16 widths occur below 1024, for ~4% more tokens (scripts/bench_shapes.py measures both). The
    output layer's row count is a shape as well: padded too, a compiled bf16 LoRA run stayed at 2.2 GB
    over 160 steps where it grew from 2.3 to 4.4 GB (bench_shapes, compiled-pad64 vs -rows1).
    `compiled`: the output layer and its loss run compiled (`_head_ce_compiled`), same value.
    `bottom`: a `bottom.Runner` that runs the decoder, reusing the frozen bottom's kept outputs."""
    import torch
    import torch.nn.functional as F

    width = padded_width(batch, multiple)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(batch), width), dtype=torch.long)
    rows, cols, weight = (
        [],
        [],
        [],
    )  # position p predicts token p+1: keep hidden states where p+1 carries loss
    for b, s in enumerate(batch):
        ids[b, : len(s["ids"])] = torch.tensor(s["ids"])
        attn[b, : len(s["ids"])] = 1
        w = s.get("weights") or {}
        for p in range(1, len(s["ids"])):
            if s["mask"][p]:
                rows.append(b)
                cols.append(p - 1)
                weight.append(w.get(p, 1.0))
    ids, attn = ids.to(device), attn.to(device)
    core = _core(model)
    # right padding: real tokens never attend to the pads after them (causal), so no position shift
    # use_cache=False: training never reads a KV cache, and building one costs ~7% of a step
    attn = attn if len(batch) > 1 else None
    if bottom is not None:
        hidden = bottom(ids, attn)
    else:
        hidden = core.get_decoder()(input_ids=ids, attention_mask=attn, use_cache=False).last_hidden_state
    n = len(rows)
    r, c = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
    target = ids[r, c + 1]
    # the output layer's rows (~270 a sequence, a new count nearly every step) padded with position 0
    # and an ignored target, which adds exactly 0 to the loss and to its gradient
    extra = -n % (multiple if row_multiple is None else row_multiple)
    if extra:
        r, c = F.pad(r, (0, extra)), F.pad(c, (0, extra))
        target = F.pad(target, (0, extra), value=-100)
    head = core.get_output_embeddings()
    if all(x == 1.0 for x in weight):
        ce = _head_ce_compiled() if compiled else _head_ce
        return ce(hidden[r, c], head.weight, head.bias, target), n
    logits = head(hidden[r, c]).float()
    ce = F.cross_entropy(logits, target, reduction="none", ignore_index=-100)
    return (ce[:n] * torch.tensor(weight, device=ce.device)).sum(), n


def step_order(seqs: list[dict], steps: int, per_step: int, seed: int, by_length: bool) -> list[list[int]]:
    """The sequences of every optimizer step, fixed by the seed (a resumed run sees the same ones).
    Each epoch is a seeded shuffle; with `by_length`, windows of 16 steps are sorted by length and
    cut into steps, so a step's sequences pad to similar widths, then the window's steps are shuffled."""
    order: list[int] = []
    epoch = 0
    while len(order) < steps * per_step:
        idx = list(range(len(seqs)))
        random.Random(seed * 1000 + epoch).shuffle(idx)
        order += idx
        epoch += 1
    order = order[: steps * per_step]
    groups = [order[i : i + per_step] for i in range(0, len(order), per_step)]
    if not by_length:
        return groups
    out, window = [], 16 * per_step
    rng = random.Random(seed * 1000 + 999)
    for w in range(0, len(order), window):
        chunk = sorted(order[w : w + window], key=lambda i: (len(seqs[i]["ids"]), i))
        steps_w = [chunk[i : i + per_step] for i in range(0, len(chunk), per_step)]
        rng.shuffle(steps_w)
        out += steps_w
    return out


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


def with_lora(model, cfg: dict):
    """The model with LoRA adapters of the train.* recipe on its target modules (the rest frozen)."""
    from peft import LoraConfig, get_peft_model

    # train.lora_layers N > 0: adapters on the top N decoder layers only; the backward pass then stops at
    # the lowest adapted layer and the frozen bottom runs forward only (no graph is kept for it)
    n, top = model.config.num_hidden_layers, cfg["lora_layers"]
    lora = LoraConfig(
        r=cfg["lora_r"],
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        target_modules=list(cfg["target_modules"]),
        layers_to_transform=list(range(n - top, n)) if 0 < top < n else None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def optimizer(model, cfg: dict, fused: bool = False):
    """AdamW over the trainable weights at train.lr; with `train.loraplus_ratio` r > 1 (LoRA+), the
    adapters' B matrices at lr x r (peft groups them), so each step moves the adapters further.
    `fused` runs torch's one-kernel AdamW (CPU and CUDA): the same update in one pass over the weights
    instead of a dozen per-tensor operations (`train.fast_step`; within the noise of a LoRA step here)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    fused = fused and bool(params) and params[0].device.type in ("cpu", "cuda")
    ratio = cfg["loraplus_ratio"]
    if ratio == 1:
        return torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=0.0, fused=fused)
    if cfg["method"] != "lora":
        raise ValueError(f"train.loraplus_ratio {ratio} applies to train.method lora, not {cfg['method']!r}")
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model, torch.optim.AdamW, lr=cfg["lr"], loraplus_lr_ratio=ratio, weight_decay=0.0, fused=fused
    )


def compile_layers(model, mode: str, device: str) -> bool:
    """Compile each decoder layer with torch's inductor (`train.compile`): it fuses the norms, rotary
    embeddings, activations and LoRA's adapters into a few kernels, where eager runs one pass over
    memory per operation. Measured on a 2-core AMX CPU (scripts/bench_recipes.py, one run): LoRA in
    bf16 219 -> 323 tokens/s (1.48x), full fine-tuning 258 -> 306; the first step pays ~10-25 s of
    compiling. `auto` compiles on CPU when a C++ compiler is found and inductor builds a kernel with
    it, `inductor` always, `none` never (the smoke profile: its tests train many 3-step models).
    Layers are compiled in place, so weights, checkpoints and the merged model keep their names.
    Returns whether it compiled."""
    if mode not in ("auto", "inductor", "none"):
        raise ValueError(f"train.compile must be auto, inductor or none, got {mode!r}")
    if mode == "none" or (mode == "auto" and (device != "cpu" or not has_cxx() or not _inductor_works())):
        return False
    core = _core(model)
    for layer in core.get_decoder().layers:
        layer.compile(dynamic=True)  # dynamic: one graph for every sequence length
    return True


def has_cxx() -> bool:
    """Whether a C++ compiler is on the PATH (inductor's CPU kernels need one)."""
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


@functools.cache  # one probe per process, not one per student trained
def _inductor_works() -> bool:
    """Whether inductor can build a CPU kernel here (it needs the C++ compiler and Python's headers):
    `auto` trains eagerly, with a warning, where it cannot, instead of failing at the first step."""
    import warnings

    import torch

    try:
        torch.compile(lambda x: x * 2 + 1, dynamic=False)(torch.ones(4))
        return True
    except Exception as e:  # noqa: BLE001 - any failure means: train eagerly
        warnings.warn(
            f"train.compile=auto: inductor cannot compile here ({type(e).__name__}); training eagerly",
            stacklevel=3,
        )
        return False


def train(
    conversations: list[dict],
    out: str | Path,
    params: dict,
    tools: list[dict],
    base: str | Path | None = None,
    progress: bool = True,
    shared=None,
) -> dict:
    """Fine-tune the base student on `conversations`; write the merged model to `out`; return stats.
    `shared`: a `bottom.SharedBottom` the students of one process share (notebook 05): outputs of the
    frozen bottom layers kept from earlier steps and students are reused, with the same result."""
    import torch
    from peft import set_peft_model_state_dict
    from peft.utils import get_peft_model_state_dict
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from tft_utils.core.provenance import machine_info
    from tft_utils.train.attention import use as use_attention
    from tft_utils.train.student import load_student
    from tft_utils.train.tool_base import conversation_key, student_base

    cfg, out = params["train"], Path(out)
    seed = cfg["seed"] if cfg["seed"] is not None else params["run"]["seed"]
    base = base or student_base(params)
    random.seed(seed)
    torch.manual_seed(seed)
    model, tok = load_student(base, params["student"]["device"], params["student"]["dtype"])
    device = next(model.parameters()).device.type
    renderer = Renderer.create(tok, tools)
    renderers = {}  # a conversation may carry its own tools and task prompt (the tool base's services)

    def renderer_of(conv: dict) -> Renderer:
        if "tools" not in conv:
            return renderer
        key = conversation_key(conv)
        if key not in renderers:
            renderers[key] = Renderer.create(tok, conv["tools"], conv.get("task_prompt") or TASK_PROMPT)
        return renderers[key]

    seqs = [
        s
        for c in conversations
        for s in encode(
            renderer_of(c), c, cfg["max_tokens"], cfg["long_policy"], cfg["unit"], cfg["call_weight"]
        )
    ]
    if not seqs:
        raise DataError("no training sequence: every conversation is empty or longer than train.max_tokens")
    per_step, micro = cfg["conversations_per_step"], cfg["micro_batch"]
    steps = cfg["max_steps"] or math.ceil(cfg["epochs"] * len(seqs) / per_step)
    plan = step_order(seqs, steps, per_step, seed, micro > 1)

    model.train()
    if cfg["method"] == "lora":
        model = with_lora(model, cfg)
    elif cfg["method"] != "full":
        raise ValueError(f"train.method must be lora or full, got {cfg['method']!r}")
    # same function, same precision, ~1.1x a step on CPU (attention.py, docs/experiments.md)
    fast = cfg["fast_step"]
    # the optimizer before compiling: LoRA+ groups the weights by their module names
    opt = optimizer(model, cfg, fused=fast)
    compiled = compile_layers(model, cfg["compile"], device)
    attention = use_attention(_core(model), "auto" if fast else "sdpa", compiled, micro)
    sched = get_linear_schedule_with_warmup(opt, cfg["warmup_steps"], steps)
    # train.amp: the float32 adapters' products in the student's bf16 (a float32 student: unchanged)
    amp_on = amp_applies(model, cfg["amp"])
    # the frozen bottom below the adapters (as with_lora places them), its outputs kept in `shared`
    # for what changes their numbers
    n_layers, top = model.config.num_hidden_layers, cfg["lora_layers"]
    frozen = n_layers - top if cfg["method"] == "lora" and 0 < top < n_layers else 0
    context = (base_identity(base), device, str(next(model.parameters()).dtype), frozen, compiled, attention)
    runner = (
        shared.runner(_core(model), frozen, (*context, amp_on, torch.get_num_threads())) if shared else None
    )
    ckpt, step, history, tokens, padded, seconds = out / "checkpoint", 0, [], 0, 0, 0.0
    if (ckpt / "state.pt").exists():  # resume where a previous run stopped
        state = torch.load(ckpt / "state.pt", weights_only=False)
        if cfg["method"] == "lora":
            set_peft_model_state_dict(model, state["weights"])
        else:
            model.load_state_dict(state["weights"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        step, history, tokens, seconds = state["step"], state["history"], state["tokens"], state["seconds"]
        padded = state.get("padded", tokens)

    bar = tqdm(total=steps, initial=step, desc="train", disable=not progress)
    while step < steps:
        t0 = time.perf_counter()
        batch = [seqs[i] for i in plan[step]]
        n_sup = sum(sum(s["mask"][1:]) for s in batch)
        total = 0.0
        for k in range(0, len(batch), micro):
            part = batch[k : k + micro]
            with autocast(model, amp_on):
                loss, _ = _batch_loss(
                    model,
                    part,
                    device,
                    tok.pad_token_id,
                    cfg["pad_multiple"],
                    compiled=compiled and fast,
                    bottom=runner,
                )
            (loss / n_sup).backward()  # mean over the step's supervised tokens
            total += loss.item()
            padded += len(part) * padded_width(part, cfg["pad_multiple"])
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
                    "weights": get_peft_model_state_dict(model)
                    if cfg["method"] == "lora"
                    else model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                    "step": step,
                    "history": history,
                    "tokens": tokens,
                    "seconds": seconds,
                    "padded": padded,
                },
                tmp / "state.pt",
            )
            shutil.rmtree(ckpt, ignore_errors=True)
            tmp.rename(ckpt)
    bar.close()

    merged = model.merge_and_unload() if cfg["method"] == "lora" else model
    merged.eval()
    if attention != "sdpa":
        merged.set_attn_implementation("sdpa")  # the saved model loads anywhere, without this package
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
        "padded_tokens": padded,
        "supervised_tokens": sum(sum(seqs[i]["mask"]) for g in plan for i in g),
        "method": cfg["method"],
        "compiled": compiled,
        "fast_step": fast,
        "amp": amp_on,
        "attention": attention,
        # forward passes that started from the frozen bottom's kept output (this run, not a resumed one's)
        "bottom_reused": runner.reused if runner else 0,
        "seconds": round(seconds, 1),
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "final_loss": round(sum(h["loss"] for h in history[-5:]) / len(history[-5:]), 4),
        "device": device,
        "dtype": str(next(merged.parameters()).dtype).replace("torch.", ""),
        "seed": seed,
        "machine": machine_info(),  # CPU model, ISA flags, threads: beside every speed
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
