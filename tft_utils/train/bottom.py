"""The frozen bottom of a student, run once per training sequence and reused by later students.

With adapters on the top N of a student's L decoder layers (`train.lora_layers`), the bottom L - N
layers are the base's own weights: their output for a sequence is the same at every step, for every
seed and for both arms that start from the same base. Notebook 05 trains the seeds of an arm one
after the other in one process, then the other arm, so a `SharedBottom` passed to each `train` keeps
each sequence's bottom output and the next student that meets the sequence runs only the top.
Arithmetic (S1 Direct, cpu profile): 500 steps x 1 of 612 sequences, so seed 1's steps meet ~5 in 6
sequences seed 0 already saw; the bottom 15 of 30 layers are ~22% of a step (bf16, 2-core AMD EPYC),
and ~1 MB a sequence is kept (816 tokens x 576 wide x 2 bytes).

What is kept is the bottom's own output tensor, and the decoder's top runs on it exactly as it runs in
one pass (same positions, same mask), so a student trained from kept outputs has the same weights,
byte for byte, as one trained without (tests/unit/train/test_bottom.py). Kept in memory for the life
of the object, up to `train.shared_bottom_mb` (then new sequences are run, not kept); another base,
dtype, device, thread count, attention or autocast starts it afresh, as those change the numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path


class SharedBottom:
    """Bottom outputs by token sequence, for the students one process trains from one base."""

    def __init__(self, budget_mb: float):
        self.budget = int(budget_mb * 2**20)
        self.context: tuple | None = None
        self.held: dict[tuple, object] = {}
        self.bytes = 0

    def runner(self, core, frozen: int, context: tuple):
        """A `Runner` for the decoder of `core` (a transformers causal LM) whose bottom `frozen` layers
        are frozen, or None where nothing can be shared (no frozen layer, no budget, or a decoder
        that does not keep its layers in `layers` and its final norm in `norm`)."""
        decoder = core.get_decoder()
        if frozen <= 0 or self.budget <= 0 or not all(hasattr(decoder, a) for a in ("layers", "norm")):
            return None
        if context != self.context:  # other numbers: what is kept does not apply
            self.context, self.held, self.bytes = context, {}, 0
        return Runner(self, decoder, frozen)

    def keep(self, key: tuple, hidden) -> None:
        size = hidden.numel() * hidden.element_size()
        if self.bytes + size <= self.budget:
            self.held[key] = hidden
            self.bytes += size


class Runner:
    """The decoder of one student as bottom (kept per sequence) then top; counts what it reused."""

    def __init__(self, store: SharedBottom, decoder, frozen: int):
        self.store, self.decoder, self.frozen = store, decoder, frozen
        self.reused = 0

    def __call__(self, ids, attention_mask):
        """The decoder's last hidden state for `ids` (as `decoder(input_ids=ids, ...)` gives it)."""
        import torch

        # a pass is its token ids and, for a padded micro-batch, its mask (right padding: which are pads)
        digest = hashlib.sha256(ids.cpu().numpy().tobytes())
        if attention_mask is not None:
            digest.update(attention_mask.cpu().numpy().tobytes())
        key = (tuple(ids.shape), attention_mask is None, digest.digest())
        layers = self.decoder.layers
        hidden = self.store.held.get(key)
        if hidden is None:
            with _swapped(self.decoder, layers[: self.frozen], torch.nn.Identity()):  # pre-norm output
                hidden = self.decoder(input_ids=ids, attention_mask=attention_mask, use_cache=False)
            hidden = hidden.last_hidden_state.detach()
            self.store.keep(key, hidden)
        else:
            self.reused += 1
        with _swapped(self.decoder, layers[self.frozen :], self.decoder.norm):
            out = self.decoder(inputs_embeds=hidden, attention_mask=attention_mask, use_cache=False)
        return out.last_hidden_state


@contextlib.contextmanager
def _swapped(decoder, layers, norm):
    """The decoder with only `layers` and `norm` for one call (the same module objects: compiled
    layers stay compiled, their weights are the student's), restored after."""
    old = decoder.layers, decoder.norm
    decoder.layers, decoder.norm = layers, norm
    try:
        yield
    finally:
        decoder.layers, decoder.norm = old


def base_identity(base) -> tuple:
    """The base model as the kept outputs depend on it: its path, and its weights file's size and
    modification time when it is a local folder (a rebuilt tool base is another base)."""
    weights = Path(str(base)) / "model.safetensors"
    if weights.is_file():
        st = weights.stat()
        return (str(base), st.st_size, st.st_mtime_ns)
    return (str(base),)
