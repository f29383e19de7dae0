"""Greedy predictions of the student for every test pair (STUDY §6), fast.

The 360 test pairs come from 34 conversations: pair t's prompt is the gold conversation up to
turn t, so all pairs of a conversation share one token sequence and differ only in where they
stop reading it. The naive way (`generate` per pair) re-reads that prefix for every turn
(~10x per conversation) and decodes one stream at a time. The fast path (`method: fast`):

1. the system prompt's key/value cache is computed once and reused by every conversation;
2. each conversation's gold token sequence (up to its last prompt) is read once;
3. all its turns are decoded together as one row of "tree attention": at every step the active
   streams each add one token at the end of the row, with a 4D attention mask letting stream b see
   the conversation up to its own prompt length p_b and its own earlier tokens only, at positions
   p_b, p_b+1, ... So each stream computes exactly what `generate` would on its own prompt, while
   the weights are read once per step for all streams instead of once per stream.

Greedy decoding, stop at the end-of-turn token or once `</tool_call>` has been produced, at most
`predict.max_new_tokens`. Both paths cut the text the same way (`_finish`), and
tests/unit/test_predict.py and scripts/bench_predict.py check they give the same outputs in float32
(measured: 0 of 31 pairs differ). In bfloat16 (`student.dtype: auto` on CUDA and on CPUs with bf16
units) the two paths multiply the same numbers in differently shaped matrices, so near-tied logits can
round apart and greedy continuations then part (measured: 13 of 56 pairs); neither is the more correct
decode - set `-p student.dtype=float32` where bit-identity with `generate` matters more than speed.
Results are appended to OUT.partial per conversation, so an interrupted run resumes there.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tft_utils.io import DataError, iter_jsonl, numbered_jsonl, write_jsonl
from tft_utils.render import Renderer
from tft_utils.train import RENDER_FILE, load_tools

STOP = "</tool_call>"
PAIR_FIELDS = ("dialogue_id", "turn", "question", "answer")


def load_pairs(path) -> list[dict]:
    numbered = list(numbered_jsonl(path, required=PAIR_FIELDS))
    rows = [r for _, r in numbered]
    for lineno, r in numbered:
        try:
            r["_messages"] = json.loads(r["question"])
        except (json.JSONDecodeError, TypeError) as e:
            raise DataError(f"{path}:{lineno}: field question is not a JSON list of messages ({e})") from e
        if not isinstance(r["_messages"], list) or len(r["_messages"]) != r["turn"]:
            raise DataError(f"{path}:{lineno}: question must hold exactly `turn` ({r['turn']}) messages")
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


def _stop_ids(tokenizer, model) -> set[int]:
    ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
    gen = model.generation_config.eos_token_id
    ids |= set(gen if isinstance(gen, list) else [gen])
    return {i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id}


class _Student:
    def __init__(self, model_dir, params: dict, tools=None):
        from tft_utils.student import load_student

        self.model, self.tok = load_student(
            model_dir, params["student"]["device"], params["student"]["dtype"]
        )
        self.model.config._attn_implementation = "sdpa"  # takes our boolean 4D mask as given
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
        self._sys = None

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

    # ------------------------------------------------------------------ fast: shared prefix, tree decoding

    def _system_cache(self):
        import torch

        if self._sys is None:
            ids = self.renderer.ids(self.renderer.system_text)
            out = self.model(
                input_ids=torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1
            )
            self._sys = (len(ids), out.past_key_values)
        return self._sys

    def fast(self, group: list[dict]) -> list[str]:
        import copy

        import torch

        last = group[-1]["_messages"]
        ids, _, turns = self.renderer.conversation_ids(last + [{"role": "assistant", "content": ""}])
        prompt_len = {i: start for i, start, _ in turns}
        p = [prompt_len[r["turn"]] for r in group]  # prompt length of each stream
        ctx = ids[: max(p)]
        n_sys, sys_cache = self._system_cache()
        if ctx[:n_sys] != self.renderer.ids(self.renderer.system_text):
            raise AssertionError("rendered conversation does not start with the system prompt")
        cache = copy.deepcopy(sys_cache)
        dev = self.device
        rest = torch.tensor([ctx[n_sys:]], device=dev)
        # logits predicting each stream's 1st token
        keep = torch.tensor([q - 1 - n_sys for q in p], device=dev)
        out = self.model(input_ids=rest, past_key_values=cache, use_cache=True, logits_to_keep=keep)
        nxt = out.logits[0].argmax(-1).tolist()
        L, B = len(ctx), len(group)
        gen: list[list[int]] = [[] for _ in range(B)]
        done = [False] * B
        owner: list[int] = []  # stream of each slot appended after the conversation
        p_t = torch.tensor(p, device=dev)
        while True:
            active = []
            for b in range(B):
                if done[b]:
                    continue
                gen[b].append(nxt[b])
                if nxt[b] in self.stop or len(gen[b]) >= self.max_new or STOP in self.tok.decode(gen[b]):
                    done[b] = True
                else:
                    active.append(b)
            if not active:
                break
            act = torch.tensor(active, device=dev)
            owner += active
            own = torch.tensor(owner, device=dev)
            mask = torch.cat(
                [
                    torch.arange(L, device=dev)[None, :] < p_t[act][:, None],  # the conversation up to p_b
                    own[None, :] == act[:, None],  # the stream's own generated tokens, itself included
                ],
                dim=1,
            )[None, None]
            pos = torch.tensor([[p[b] + len(gen[b]) - 1 for b in active]], device=dev)
            tokens = torch.tensor([[gen[b][-1] for b in active]], device=dev)
            out = self.model(
                input_ids=tokens, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True
            )
            step = out.logits[0].argmax(-1).tolist()
            for k, b in enumerate(active):
                nxt[b] = step[k]
        return [_finish(self.tok, [t for t in g if t not in self.stop]) for g in gen]


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
        for g in todo:
            texts = student.fast(g) if method == "fast" else student.naive(g)
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
        "seconds": round(seconds, 1),
        "pairs_per_s": round(n_new / seconds, 2) if seconds and n_new else None,
    }


def predict_file(model_dir, pairs_path, out, params, tools_path=None, progress=True) -> dict:
    tools = load_tools(tools_path) if tools_path else None
    return predict(model_dir, load_pairs(pairs_path), params, out=out, tools=tools, progress=progress)


def add_cli(subparsers) -> None:
    from tft_utils import cli

    p = subparsers.add_parser("predict", help="greedy student predictions for every test pair")
    p.add_argument("model_dir", help="model folder (from `tft train`), or a base model with --tools")
    p.add_argument("pairs_file", help="test_pairs.jsonl (dialogue_id, turn, question, answer)")
    p.add_argument("--out", required=True, help="predictions JSONL to write")
    p.add_argument("--tools", default=None, help="tools.json; needed for a model not trained by `tft train`")
    cli.add_params_args(p)
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args) -> int:
    from tft_utils import cli
    from tft_utils.student import base_model_dir

    params = cli.params_from_args(args)
    model = args.model_dir
    if model in ("cpu", "smoke", "paper"):  # a profile name: the untuned base student
        model = base_model_dir(model, params["student"]["cache_dir"])
    res = predict_file(model, args.pairs_file, args.out, params, args.tools)
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=2))
    return 0
