"""ONE rendering of a conversation into tokens, shared by training and evaluation.

A conversation is rendered as pieces, each tokenized on its own and concatenated:

    [system] [user] [assistant header][call + end] [user] [assistant header][call + end] ...

- system: a prompt we write from the task, listing the tools. Where the tokenizer's chat template
  renders `tools=` itself (Qwen3, Hermes-style templates) the template writes the tool block; where
  it ignores them (SmolLM2) we list the tools in the system text ourselves (the documented fallback).
- user / tool-result messages (tool results are *user* messages in our traces; a `tool` role is
  rendered as user too): the template's own user wrapping, e.g. `<|im_start|>user\\n...<|im_end|>\\n`.
- assistant header: exactly what the template appends for `add_generation_prompt=True` with
  `enable_thinking=False`. For Qwen3 that is `<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n`:
  Qwen3's own template drops that empty think block from *earlier* assistant turns, so its history
  rendering differs from what the model sees while generating. We keep the empty block on every
  assistant turn instead, so each turn is trained exactly as it is served.
- call: `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>` (Qwen3/Hermes format) followed
  by the template's end-of-turn token (`<|im_end|>`): the only tokens that carry loss.

Because every piece is tokenized separately and piece boundaries sit on special tokens, the
evaluation prompt for turn t (`prompt_ids`) is, token for token, the first tokens of the training
sequence (`conversation_ids`); tests/unit/train/test_render.py checks it, and that joining the pieces
gives the same tokens as tokenizing the joined text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tft_utils.core.io import DataError
from tft_utils.domain.calls import call_of, call_text
from tft_utils.domain.tools import load_tools  # noqa: F401  (its home is the domain; imported from here too)

TASK_PROMPT = (
    "You are a restaurant booking assistant. You act only by calling tools: call exactly one tool "
    "per turn. Use respond_to_user to talk to the user (ask for missing details, offer options, "
    "confirm); call a service tool when you have what it needs. Service results come back as a "
    "user message holding a JSON list."
)
# beside a trained student: how it renders (its tools and prompt), so predictions render the same
RENDER_FILE = "tft_render.json"
_PH = "\x00PLACEHOLDER\x00"


def tool_signature(tool: dict) -> str:
    """`- FindRestaurants(cuisine, city, price_range?: inexpensive|moderate): description`."""
    fn = tool.get("function", tool)
    props = fn.get("parameters", {}).get("properties", {})
    required = set(fn.get("parameters", {}).get("required", []))
    args = []
    for name, spec in props.items():
        arg = name if name in required else f"{name}?"
        if spec.get("enum"):
            arg += ": " + "|".join(str(v) for v in spec["enum"])
        args.append(arg)
    return f"- {fn['name']}({', '.join(args)}): {fn.get('description', '')}"


def fallback_tools_text(tools: list[dict]) -> str:
    """The tool listing we write into the system text when the template ignores `tools=`."""
    lines = [tool_signature(t) for t in tools]
    return (
        "Tools (? marks an optional argument):\n"
        + "\n".join(lines)
        + '\nAnswer with one call: <tool_call>\n{"name": <tool>, "arguments": {<arg>: <value>}}\n</tool_call>'
    )


@dataclass
class Renderer:
    """Token pieces of one tokenizer + tool set; build with `Renderer.create(tokenizer, tools)`."""

    tokenizer: object
    tools: list[dict]
    system_text: str
    user_pre: str
    user_post: str
    header: str
    end: str  # end-of-turn text carrying loss, e.g. "<|im_end|>"
    after_end: str  # what follows it (e.g. "\n"): context, no loss
    native_tools: bool
    task_prompt: str = TASK_PROMPT
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, tokenizer, tools: list[dict], task_prompt: str = TASK_PROMPT) -> Renderer:
        if not tokenizer.chat_template:
            raise ValueError("tokenizer has no chat template; set one before rendering")

        def tpl(messages, **kw):
            return tokenizer.apply_chat_template(messages, tokenize=False, enable_thinking=False, **kw)

        sys_plain = tpl([{"role": "system", "content": task_prompt}])
        sys_tools = tpl([{"role": "system", "content": task_prompt}], tools=tools) if tools else sys_plain
        native = sys_tools != sys_plain and all(t["function"]["name"] in sys_tools for t in tools)
        if native:
            system = {"role": "system", "content": task_prompt}
            kw = {"tools": tools}
        else:
            system = {"role": "system", "content": task_prompt + "\n\n" + fallback_tools_text(tools)}
            kw = {}
        system_text = tpl([system], **kw)
        with_user = tpl([system, {"role": "user", "content": _PH}], **kw)
        with_gen = tpl([system, {"role": "user", "content": _PH}], add_generation_prompt=True, **kw)
        with_asst = tpl(
            [system, {"role": "user", "content": "u"}, {"role": "assistant", "content": _PH}], **kw
        )
        if not with_user.startswith(system_text) or not with_gen.startswith(with_user):
            raise ValueError("chat template does not render messages as an extendable prefix")
        user_pre, user_post = with_user[len(system_text) :].split(_PH)
        header = with_gen[len(with_user) :]
        end_all = with_asst.split(_PH, 1)[1]
        end = end_all.rstrip()
        after_end = end_all[len(end) :]
        return cls(
            tokenizer, tools, system_text, user_pre, user_post, header, end, after_end, native, task_prompt
        )

    # ------------------------------------------------------------------ pieces (text and ids)

    def ids(self, text: str) -> list[int]:
        """Token ids of one piece (memoised: the system prompt and headers repeat a lot)."""
        hit = self._cache.get(text)
        if hit is None:
            hit = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(self._cache) < 100_000:
                self._cache[text] = hit
        return list(hit)

    def pieces(
        self, messages: list[dict], where: str = "conversation"
    ) -> list[tuple[str, bool, int | None, bool]]:
        """(text, carries_loss, message_index, is_call) for the whole conversation, system piece first.
        An assistant message marked `"masked": true` (a turn the TFT committee could not settle) is
        rendered as context like any other, but its call carries no loss."""
        out: list[tuple[str, bool, int | None, bool]] = [(self.system_text, False, None, False)]
        for i, m in enumerate(messages):
            role = m.get("role")
            if role == "assistant":
                name, args = _call_or_raw(m, f"{where}, message {i}")
                out.append((self.header, False, i, False))
                out.append((call_text(name, args) + self.end, not m.get("masked", False), i, True))
                if self.after_end:
                    out.append((self.after_end, False, i, False))
            elif role in ("user", "tool"):
                content = m.get("content")
                if not isinstance(content, str):
                    content = json.dumps(content, ensure_ascii=False)
                out.append((self.user_pre + content + self.user_post, False, i, False))
            elif role == "system":
                continue  # our task prompt replaces any system message a trace carries
            else:
                raise DataError(f"{where}, message {i}: unknown role {role!r}")
        return out

    def text(self, messages: list[dict]) -> str:
        return "".join(t for t, _, _, _ in self.pieces(messages))

    def prompt_text(self, messages_before: list[dict]) -> str:
        """What the model reads before generating the next assistant turn."""
        return self.text(messages_before) + self.header

    def prompt_ids(self, messages_before: list[dict]) -> list[int]:
        ids: list[int] = []
        for text, _, _, _ in self.pieces(messages_before):
            ids += self.ids(text)
        return ids + self.ids(self.header)

    def conversation_ids(self, messages: list[dict], where: str = "conversation"):
        """(ids, loss_mask, turns): turns = [(message_index, prompt_len, call_end)] per assistant turn,
        so ids[:prompt_len] is exactly `prompt_ids(messages[:message_index])`."""
        ids: list[int] = []
        mask: list[bool] = []
        turns: list[tuple[int, int, int]] = []
        for text, loss, i, is_call in self.pieces(messages, where):
            piece = self.ids(text)
            if is_call:
                turns.append((i, len(ids), len(ids) + len(piece)))
            ids += piece
            mask += [loss] * len(piece)
        return ids, mask, turns

    def config(self) -> dict:
        """What a saved model folder records so prediction renders exactly as training did."""
        return {"tools": self.tools, "task_prompt": self.task_prompt, "native_tools": self.native_tools}


def _call_or_raw(message: dict, where: str) -> tuple[str, dict | str]:
    """`call_of`, except that a masked turn (`tft clean` could not settle it and kept the trace's own call)
    whose call cannot be read is rendered as it stands, arguments as their raw text: context, never loss."""
    try:
        return call_of(message, where)
    except DataError:
        if not message.get("masked"):
            raise
        fn = (message.get("tool_calls") or [{}])[0]
        fn = fn.get("function", fn) if isinstance(fn, dict) else {}
        return str(fn.get("name", "")), fn.get("arguments", "")
