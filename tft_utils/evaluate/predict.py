"""Greedy predictions of the student for every test pair (STUDY §6), fast.

The 360 test pairs come from 34 conversations: pair t's prompt is the gold conversation up to
turn t, so all pairs of a conversation share one token sequence and differ only in where they
stop reading it. The naive way (`generate` per pair) re-reads that prefix for every turn
(~10x per conversation) and decodes one stream at a time. The fast path (`method: fast`):

1. the system prompt's keys/values are computed once and copied into every conversation's store;
2. each conversation's gold token sequence (up to its last prompt) is read once, PREFILL_CHUNK
   tokens per forward pass, each chunk attending only to the tokens before it (no work spent on
   the masked half of a causal mask);
3. drafts: in that sequence the tokens after pair t's prompt are the gold call of turn t, read
   anyway as context of the later turns, so the same forward passes also give the model's greedy
   next token at each of them. Pair t's output is read off there for as long as it repeats the gold
   call (while greedy token k equals gold token k, greedy token k+1 is the one predicted after gold
   token k, from the very same context); only from the first token where it departs (or past that
   call) is the pair decoded. The outputs are the model's own greedy outputs: the gold call only
   spares recomputing what was computed anyway (measured: 44% of the tokens of a SmolLM2 trained
   125 LoRA steps, ~13 tokens a pair for the untuned one);
4. the pairs of several conversations, up to `predict.batch_streams` streams, are decoded together:
   every step feeds one token of each active stream in one forward pass, so the weights are read
   once for all of them. Our attention function (`_Step`) lets stream s see its conversation's
   store up to its prompt (and the draft tokens it took) and the tokens it generated itself; the
   two parts are computed apart, the conversation part once per conversation for all its streams,
   and joined by their log-sum-exp. A finished stream leaves the batch at once; the next
   conversation is admitted (prefilled) as soon as its streams fit.

Measured against the previous fast path (one conversation at a time, tree attention), one CPU thread,
float32 (scripts/bench_predict_vs.py): 2.5x on all 360 pairs with the untuned SmolLM2, 2.1x on 104
pairs with a trained one. Reading the conversations (a third to two thirds of the time now) runs at
about the speed of the matrix products themselves.

Greedy decoding, stop at the end-of-turn token or once `</tool_call>` has been produced, at most
`predict.max_new_tokens`. Both paths cut the text the same way (`_finish`), and
tests/unit/evaluate/test_predict.py, scripts/bench_predict.py and scripts/bench_predict_vs.py (new code vs
the previous tree-attention fast path) check they give the same outputs in float32 (measured on the
untuned SmolLM2: 0 of 360 pairs differ). In bfloat16 (`student.dtype: auto` on CUDA and on CPUs with
bf16 units) the paths multiply the same numbers in differently shaped matrices, so near-tied logits
can round apart and greedy continuations then part (measured, this path vs the previous one: 6 of 12
pairs); neither is the more correct decode - set `-p student.dtype=float32` where bit-identity with
`generate` matters more than speed. (Our attention itself always runs in float32.) Results are
appended to OUT.partial per conversation, so an interrupted run resumes there.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tft_utils.core.io import DataError, iter_jsonl, numbered_jsonl, write_jsonl
from tft_utils.domain.messages import checked_id, checked_messages
from tft_utils.train.render import RENDER_FILE, Renderer, load_tools

STOP = "</tool_call>"
PAIR_FIELDS = ("dialogue_id", "turn", "question", "answer")
ATTENTION = "tft_batched"  # our attention function's name in transformers' AttentionInterface
PREFILL_CHUNK = 256  # conversation tokens read per forward pass: each attends only to those before it
OWN_STEP = 32  # the generated-token cache grows by this many positions at a time


def load_pairs(path) -> list[dict]:
    """The pairs of a test_pairs.jsonl, each (dialogue_id, turn) once (predictions are matched by them),
    `turn` an integer and `question` a JSON list of that many chat messages (`domain.messages`)."""
    numbered = list(numbered_jsonl(path, required=PAIR_FIELDS))
    if not numbered:
        raise DataError(f"{path}: no pairs (an empty file)")
    rows, seen = [r for _, r in numbered], {}
    for lineno, r in numbered:
        where = f"{path}:{lineno}"
        if isinstance(r["turn"], bool) or not isinstance(r["turn"], int):
            raise DataError(f"{where}: field turn must be an integer, got {r['turn']!r:.40}")
        key = (checked_id(r, where), r["turn"])
        if key in seen:
            raise DataError(f"{where}: dialogue {key[0]} turn {key[1]} is also on line {seen[key]}")
        seen[key] = lineno
        try:
            question = json.loads(r["question"]) if isinstance(r["question"], str) else None
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: field question is not a JSON list of messages ({e})") from e
        if not isinstance(question, list):
            raise DataError(f"{where}: field question must be a JSON string holding a list of messages")
        if len(question) != r["turn"]:
            raise DataError(f"{where}: question must hold exactly `turn` ({r['turn']}) messages")
        r["_messages"] = checked_messages(question, f"{where}: field question")
    return rows


def groups(pairs: list[dict]) -> list[list[dict]]:
    """Pairs grouped by conversation, sorted by turn; a pair whose question is not a prefix of
    its conversation's longest question gets a group of its own (still correct, just slower)."""
    by_id: dict[str, list[dict]] = {}
    for p in pairs:
        by_id.setdefault(str(p["dialogue_id"]), []).append(p)
    out = []
    for rows in by_id.values():
        rows.sort(key=lambda r: r["turn"])
        longest = rows[-1]["_messages"]
        shared = [r for r in rows if longest[: r["turn"]] == r["_messages"]]
        out.append(shared)
        out += [[r] for r in rows if r not in shared]
    return out


def _finish(tokenizer, tokens: list[int]) -> str:
    """Prediction text: decoded, cut right after the first `</tool_call>`."""
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    cut = text.find(STOP)
    return (text[: cut + len(STOP)] if cut >= 0 else text).strip()


def _greedy(logits) -> list[int]:
    """The most likely token of each row (the first one on a tie, as argmax and `generate`). `max`'s indices, not
    `argmax`: on CPU bf16 logits argmax is ~4x slower (128 rows x 49152: 23 ms against 5.7 ms, one thread), a
    third of a smoke model's prediction time."""
    return logits.max(-1).indices.tolist()


def _stop_ids(tokenizer, model) -> set[int]:
    ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
    gen = model.generation_config.eos_token_id
    ids |= set(gen if isinstance(gen, list) else [gen])
    return {i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id}


class _Student:
    def __init__(self, model_dir, params: dict, tools=None):
        from tft_utils.train.student import load_student

        self.model, self.tok = load_student(
            model_dir, params["student"]["device"], params["student"]["dtype"]
        )
        self.model.config._attn_implementation = "sdpa"  # generate's; `_forward` switches to ours
        cfg_path = Path(model_dir) / RENDER_FILE
        if Path(model_dir).is_dir() and cfg_path.exists():
            cfg = json.loads(cfg_path.read_text())
            self.renderer = Renderer.create(self.tok, cfg["tools"], cfg["task_prompt"])
        elif tools is not None:
            self.renderer = Renderer.create(self.tok, tools)
        else:
            raise DataError(f"{model_dir}: no {RENDER_FILE} (not trained by `tft train`); pass --tools")
        self.device = next(self.model.parameters()).device
        self.stop = _stop_ids(self.tok, self.model)
        self.max_new = params["predict"]["max_new_tokens"]
        self.batch_streams = params["predict"]["batch_streams"]
        self._sys = None
        from transformers import AttentionInterface

        AttentionInterface.register(ATTENTION, _attention)

    # ------------------------------------------------------------------ naive: generate per pair

    def naive(self, group: list[dict]) -> list[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tok = self.tok

        class StopAtCall(StoppingCriteria):  # same rule as the fast path
            def __init__(self, n):
                self.n = n

            def __call__(self, input_ids, scores, **kw):
                return torch.tensor([STOP in tok.decode(input_ids[0, self.n :])], device=input_ids.device)

        outs = []
        for pair in group:
            ids = torch.tensor([self.renderer.prompt_ids(pair["_messages"])], device=self.device)
            gen = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=self.max_new,
                do_sample=False,
                eos_token_id=sorted(self.stop),
                pad_token_id=tok.pad_token_id,
                stopping_criteria=StoppingCriteriaList([StopAtCall(ids.shape[1])]),
            )
            new = gen[0, ids.shape[1] :].tolist()
            outs.append(_finish(tok, [t for t in new if t not in self.stop]))
        return outs

    # ------------------------------------------------------------------ fast: batched conversations

    def fast(self, group: list[dict]) -> list[str]:
        """The predictions of one conversation's pairs (`batched` with that group alone)."""
        return next(self.batched([group]))[1]

    def batched(self, groups: list[list[dict]]):
        """Yield (group, predictions) for every group, each as soon as all its pairs are decoded.

        Conversations are admitted (prefilled) in order while their streams fit in
        `predict.batch_streams` (a larger group is admitted alone); every step then feeds one token
        for each active stream of every admitted conversation in one forward pass; a finished
        stream leaves the batch at once, making room for the next conversation."""
        import torch

        kinds = set(getattr(self.model.config, "layer_types", None) or ["full_attention"])
        if kinds != {"full_attention"}:
            raise ValueError(f"predict.method fast needs full attention in every layer ({kinds}); use naive")
        queue = list(groups)[::-1]
        own = _OwnCache(self._shape(), max([self.batch_streams] + [len(g) for g in groups]), self.device)
        active: list[_Stream] = []
        while queue or active:
            with torch.inference_mode():
                finished, active = self._advance(queue, active, own)
            yield from finished

    def _advance(self, queue: list[list[dict]], active: list[_Stream], own: _OwnCache):
        """Admit what fits from the end of `queue`, then decode one step; returns the groups
        finished meanwhile (with their predictions) and the streams still active."""
        import torch

        finished: list[tuple[list[dict], list[str]]] = []

        def take(s: _Stream, token: int) -> None:
            s.gen.append(token)
            if token in self.stop or len(s.gen) >= self.max_new or STOP in self.tok.decode(s.gen):
                s.done = True
                s.conv.left -= 1
                if not s.conv.left:
                    texts = [_finish(self.tok, [t for t in g if t not in self.stop]) for g in s.conv.gen]
                    finished.append((s.conv.group, texts))

        while queue and (not active or len(active) + len(queue[-1]) <= self.batch_streams):
            conv, greedy = self._prefill(queue.pop())
            for index, draft in enumerate(conv.drafts):
                s = _Stream(conv, index)
                while True:  # the greedy tokens read off the prefill, while they follow the draft
                    take(s, greedy[s.p - 1 + len(s.gen)])
                    if s.done or len(s.gen) > len(draft) or s.gen[-1] != draft[len(s.gen) - 1]:
                        break
                if not s.done:
                    s.seen = s.p + len(s.gen) - 1  # the draft tokens it took are in the conversation
                    active.append(s)
        if not active:
            return finished, active
        own.keep([s.row for s in active if s.row >= 0])
        for row, s in enumerate(active):
            s.row = row
            s.own += 1  # the token fed now goes into the stream's own cache
        own.ensure(max(s.own for s in active))
        ids = torch.tensor([[s.gen[-1] for s in active]], device=self.device)
        pos = torch.tensor([[s.p + len(s.gen) - 1 for s in active]], device=self.device)
        step = _Step(active, own, self.model.config.num_attention_heads // own.shape[1], self.device)
        logits = self._forward(ids, pos, step)
        for s, token in zip(active, _greedy(logits[0]), strict=True):
            take(s, token)
        return finished, [s for s in active if not s.done]

    def _shape(self) -> tuple[int, int, int]:
        """(layers, key/value heads, head dim) of the model's attention."""
        cfg = self.model.config
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        return cfg.num_hidden_layers, getattr(cfg, "num_key_value_heads", None) or heads, head_dim

    def _forward(self, ids, pos, plan, keep=0):
        """One forward pass with our attention (`_attention` reading `plan`); logits at `keep`."""
        cfg = self.model.config
        before = cfg._attn_implementation
        cfg._attn_implementation = ATTENTION
        try:
            out = self.model(
                input_ids=ids, position_ids=pos, use_cache=False, logits_to_keep=keep, tft_plan=plan
            )
        finally:
            cfg._attn_implementation = before
        return out.logits

    def _prefill(self, group: list[dict]):
        """Read a conversation up to its last prompt (after the shared system prompt) in chunks of
        PREFILL_CHUNK tokens into its own key/value store. Returns it and the greedy next token at
        each position where a stream may need one: its last prompt token and every token of its
        draft (the conversation's own call at that turn, read anyway as context of later turns)."""
        import torch

        last = group[-1]["_messages"]
        ids, _, turns = self.renderer.conversation_ids(last + [{"role": "assistant", "content": ""}])
        call = {i: (start, end) for i, start, end in turns}
        p = [call[r["turn"]][0] for r in group]  # prompt length of each stream
        ctx = ids[: max(p)]
        drafts = [ctx[call[r["turn"]][0] : call[r["turn"]][1]] for r in group]
        need = sorted({q for b, d in zip(p, drafts, strict=True) for q in range(b - 1, b + len(d))})
        sys_ids, sys_kv = self._system()
        if ctx[: len(sys_ids)] != sys_ids:
            raise AssertionError("rendered conversation does not start with the system prompt")
        layers, kv_heads, head_dim = self._shape()
        kv = torch.empty(layers, 2, kv_heads, len(ctx), head_dim, device=self.device)
        kv[:, :, :, : len(sys_ids)] = sys_kv
        greedy: dict[int, int] = {}
        for start in range(len(sys_ids), len(ctx), PREFILL_CHUNK):
            end = min(start + PREFILL_CHUNK, len(ctx))
            want = [q for q in need if start <= q < end]
            logits = self._chunk(ctx, kv, start, end, want)
            greedy |= dict(zip(want, _greedy(logits[0, : len(want)]), strict=True))
        return _Conversation(group, p, drafts, kv), greedy

    def _chunk(self, ctx: list[int], kv, start: int, end: int, want: list[int]):
        import torch

        dev = self.device
        ids = torch.tensor([ctx[start:end]], device=dev)
        pos = torch.arange(start, end, device=dev)[None]
        keep = torch.tensor([q - start for q in want], device=dev, dtype=torch.long) if want else 1
        return self._forward(ids, pos, _Prefill(kv, start, end, dev), keep)

    def _system(self):
        """Token ids and key/value store of the system prompt, computed once."""
        import torch

        if self._sys is None:
            ids = self.renderer.ids(self.renderer.system_text)
            layers, kv_heads, head_dim = self._shape()
            kv = torch.empty(layers, 2, kv_heads, len(ids), head_dim, device=self.device)
            for start in range(0, len(ids), PREFILL_CHUNK):
                self._chunk(ids, kv, start, min(start + PREFILL_CHUNK, len(ids)), [])
            self._sys = (ids, kv)
        return self._sys


class _Conversation:
    """One group being decoded: its pairs, the prompt length and draft of each, its key/value store."""

    def __init__(self, group: list[dict], p: list[int], drafts: list[list[int]], kv):
        self.group, self.p, self.drafts = group, p, drafts
        self.kv = kv  # [layer, key|value, kv head, position, dim]
        self.gen: list[list[int]] = [[] for _ in group]
        self.left = len(group)


class _Stream:
    """One pair being decoded: its conversation, prompt length, tokens so far, row in the own cache."""

    def __init__(self, conv: _Conversation, index: int):
        self.conv, self.p = conv, conv.p[index]
        self.seen = self.p  # conversation tokens it attends to (its prompt, then the draft it took)
        self.gen = conv.gen[index]
        self.own = 0  # generated tokens stored in the own cache
        self.row = -1
        self.done = False


class _OwnCache:
    """Keys/values of the tokens each active stream generated, one row per stream, float32:
    [layer, key|value, row, kv head, position, dim]; rows follow the order of the active streams."""

    def __init__(self, shape: tuple[int, int, int], rows: int, device):
        self.shape, self.rows, self.device = shape, rows, device
        self.kv = None
        self.used = 0  # positions holding data in some row

    def keep(self, rows: list[int]) -> None:
        """Move these rows (in this order) to rows 0, 1, ...; the rows after them are free."""
        if self.kv is None or rows == list(range(len(rows))):
            return
        import torch

        idx = torch.tensor(rows, device=self.device, dtype=torch.long)
        part = self.kv[:, :, :, :, : self.used]
        part[:, :, : len(rows)] = part.index_select(2, idx)

    def ensure(self, length: int) -> None:
        """Room for `length` positions per row (grown in steps of OWN_STEP)."""
        import torch

        have = 0 if self.kv is None else self.kv.shape[4]
        if length > have:
            layers, kv_heads, head_dim = self.shape
            size = -(-length // OWN_STEP) * OWN_STEP
            grown = torch.zeros(layers, 2, self.rows, kv_heads, size, head_dim, device=self.device)
            if have:
                grown[:, :, :, :, :have] = self.kv
            self.kv = grown
        self.used = max(self.used, length)


class _Prefill:
    """Attention plan of one prefill chunk, positions [start, end) of a conversation: each token sees
    the conversation up to itself; its key/value go into the conversation's store."""

    def __init__(self, kv, start: int, end: int, device):
        import torch

        self.kv, self.start, self.end = kv, start, end
        # additive, made once for all layers (SDPA would turn a boolean mask into this in every layer)
        self.mask = _bias(torch.arange(start, end, device=device) + 1, end, device)

    def attend(self, layer: int, q, k, v, scale: float):
        import torch

        kv = self.kv[layer]
        kv[0, :, self.start : self.end] = k[0]
        kv[1, :, self.start : self.end] = v[0]
        heads, kv_heads = q.shape[1], k.shape[1]
        n, d = self.end, kv.shape[-1]
        keys = kv[:, :, None, :n].expand(2, kv_heads, heads // kv_heads, n, d).reshape(2, 1, heads, n, d)
        out = torch.nn.functional.scaled_dot_product_attention(
            q.float(), keys[0], keys[1], attn_mask=self.mask, scale=scale
        )
        return out.transpose(1, 2).to(q.dtype)


class _Step:
    """Attention plan of one decoding step: stream s (row s) sees its conversation's first p_s
    tokens and its own generated tokens. The two parts are computed apart - the conversation part
    once per conversation for all its streams, the own part for all streams at once - and joined
    by their log-sum-exp (softmax normalisers)."""

    def __init__(self, active: list[_Stream], own: _OwnCache, rep: int, device):
        import torch

        self.own, self.n, self.rep = own, len(active), rep
        self.width = max(s.own for s in active)
        own_len = torch.tensor([s.own for s in active], device=device)
        self.rows = torch.arange(self.n, device=device)
        self.col = own_len - 1
        kv_heads = own.shape[1]
        self.own_bias = (
            _bias(own_len, self.width, device)[:, None, None, :]
            .expand(self.n, kv_heads, rep, self.width)
            .reshape(self.n * kv_heads, rep, self.width)
        )
        self.segments = []  # (conversation store, first row, end row, key width, bias per query row)
        a = 0
        while a < self.n:
            conv, b = active[a].conv, a
            while b < self.n and active[b].conv is conv:
                b += 1
            seen = torch.tensor([s.seen for s in active[a:b]], device=device)
            width = max(s.seen for s in active[a:b])
            self.segments.append((conv.kv, a, b, width, _bias(seen, width, device).repeat(rep, 1)))
            a = b

    def attend(self, layer: int, q, k, v, scale: float):
        import torch

        n, heads, kv_heads, d, rep = self.n, q.shape[1], k.shape[1], q.shape[-1], self.rep
        own = self.own.kv[layer]
        own[0, :n][self.rows, :, self.col] = k[0].transpose(0, 1).float()
        own[1, :n][self.rows, :, self.col] = v[0].transpose(0, 1).float()
        qf = (q[0].float() * scale).contiguous()  # [heads, n, d]
        # own part, all streams at once
        qo = qf.view(kv_heads, rep, n, d).permute(2, 0, 1, 3).reshape(n * kv_heads, rep, d)
        keys = own[0, :n, :, : self.width].reshape(n * kv_heads, self.width, d)
        o2, lse2 = _softmax_attend(self.own_bias, qo, keys, own[1, :n, :, : self.width].reshape(keys.shape))
        # conversation part, one conversation at a time (its streams share its keys)
        o1, lse1 = torch.empty_like(o2), torch.empty_like(lse2)
        for kv, a, b, width, bias in self.segments:
            c = b - a
            qc = qf[:, a:b].reshape(kv_heads, rep * c, d)
            o, lse = _softmax_attend(bias, qc, kv[layer, 0, :, :width], kv[layer, 1, :, :width])
            o1.view(n, kv_heads, rep, d)[a:b] = o.view(kv_heads, rep, c, d).permute(2, 0, 1, 3)
            lse1.view(n, kv_heads, rep, 1)[a:b] = lse.view(kv_heads, rep, c, 1).permute(2, 0, 1, 3)
        lse = torch.logaddexp(lse1, lse2)
        out = o1 * (lse1 - lse).exp_() + o2 * (lse2 - lse).exp_()  # [n * kv head, rep, d]
        return out.view(1, n, heads, d).to(q.dtype)


def _softmax_attend(bias, q, keys, values):
    """softmax(q keys^T + bias) values and the log-sum-exp of each row (batched matrices).
    torch.softmax's fused kernel, not torch.exp: exp of scores far below the maximum (masked or
    not) goes through a slow denormal path on CPUs. The row's sum of exponentials is 1 / the
    largest probability, so lse = max + log(sum) = max - log(max probability)."""
    import torch

    scores = torch.baddbmm(bias, q, keys.transpose(-1, -2))
    top = scores.amax(-1, keepdim=True)
    prob = torch.softmax(scores, -1)
    return torch.bmm(prob, values), top - prob.amax(-1, keepdim=True).log()


def _bias(lengths, width: int, device):
    """[len(lengths), width] additive mask: 0 before each row's length, -inf from it."""
    import torch

    cols = torch.arange(width, device=device)[None, :]
    return torch.zeros(len(lengths), width, device=device).masked_fill_(
        cols >= lengths[:, None], float("-inf")
    )


def _attention(module, query, key, value, attention_mask, scaling=None, tft_plan=None, **kwargs):
    """Attention of our batched decoding (registered as ATTENTION, used only inside `_forward`)."""
    if tft_plan is None:
        raise RuntimeError(
            f"attention {ATTENTION!r} is only for tft_utils.evaluate.predict's batched decoding"
        )
    return tft_plan.attend(module.layer_idx, query, key, value, scaling), None


def predict(
    model_dir, pairs: list[dict], params: dict, out=None, tools=None, method=None, progress=True
) -> dict:
    """Predict every pair; write rows (question, answer, dialogue_id, turn, prediction) to `out`."""
    import torch
    from tqdm.auto import tqdm

    method = method or params["predict"]["method"]
    if method not in ("fast", "naive"):
        raise ValueError(f"predict.method must be fast or naive, got {method!r}")
    student = _Student(model_dir, params, tools)
    partial = Path(str(out) + ".partial") if out else None
    if partial:
        partial.parent.mkdir(parents=True, exist_ok=True)
    done = (
        {(str(r["dialogue_id"]), r["turn"]): r for r in iter_jsonl(partial)}
        if partial and partial.exists()
        else {}
    )
    todo = [g for g in groups(pairs) if any((str(r["dialogue_id"]), r["turn"]) not in done for r in g)]
    t0 = time.perf_counter()
    with (
        torch.inference_mode(),
        tqdm(
            total=len(pairs), initial=len(pairs) - sum(map(len, todo)), desc="predict", disable=not progress
        ) as bar,
    ):
        decoded = student.batched(todo) if method == "fast" else ((g, student.naive(g)) for g in todo)
        for g, texts in decoded:
            rows = [
                {k: r[k] for k in PAIR_FIELDS} | {"prediction": t} for r, t in zip(g, texts, strict=False)
            ]
            for row in rows:
                done[(str(row["dialogue_id"]), row["turn"])] = row
            if partial:
                with open(partial, "a", encoding="utf-8") as f:
                    f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            bar.update(len(g))
    seconds = time.perf_counter() - t0
    rows = [done[(str(r["dialogue_id"]), r["turn"])] for r in pairs]
    if out:
        write_jsonl(out, rows)
        partial.unlink(missing_ok=True)
    n_new = sum(map(len, todo))
    return {
        "rows": rows,
        "method": method,
        "pairs": len(rows),
        "predicted": n_new,  # by this call: a resumed prediction found the rest in its partial file
        "seconds": round(seconds, 1),
        "pairs_per_s": round(n_new / seconds, 2) if seconds and n_new else None,
    }


def predict_file(model_dir, pairs_path, out, params, tools_path=None, progress=True) -> dict:
    tools = load_tools(tools_path) if tools_path else None
    return predict(model_dir, load_pairs(pairs_path), params, out=out, tools=tools, progress=progress)
