"""The engine's command-line flags, declared once for `starchat serve`, `chat` and `prompt`.

They name the same settings an editor sends (`--backend-url` is `backendUrl`) and are
validated by the same options model, so a flag and a setting never disagree.
"""

import argparse
import re
from typing import get_args

from starchat.server.options import SECTION, FimChoice, Options, apply_settings

_FLAGS = (
    "model",
    "completion_model",
    "fim_format",
    "backend",
    "backend_url",
    "device",
    "dtype",
    "compile",
    "kv_cache_mb",
)


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="Hub id or local directory (default: the offline SmolLM2-135M-Instruct); with "
        "--backend openai, the served model's name",
    )
    parser.add_argument(
        "--completion-model",
        help="model for inline completions (default: the chat model); same forms as --model",
    )
    parser.add_argument(
        "--fim-format",
        choices=list(get_args(FimChoice)),
        help="fill-in-the-middle format for completions (default auto: from the tokenizer)",
    )
    parser.add_argument(
        "--backend",
        choices=["transformers", "openai"],
        help="where generation runs: local transformers (default) or an OpenAI-compatible server",
    )
    parser.add_argument(
        "--backend-url", help="OpenAI-compatible base URL (vLLM, TGI, llama.cpp's server)"
    )
    parser.add_argument("--device", help="auto (default), cpu, mps, cuda or cuda:N")
    parser.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float16", "float32"],
        help="weights' precision (default auto: bf16 on GPUs that have it, fp16 on others, "
        "fp32 on the CPU)",
    )
    _add_compile_flag(parser)
    parser.add_argument(
        "--kv-cache-mb",
        type=int,
        help="megabytes of key/value caches kept between turns and keystrokes, for the whole "
        "server (default 1024; 0: off)",
    )


def _add_compile_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="CUDA: decode with a static cache compiled by torch.compile (compiled at load)",
    )


def engine_flags(args: argparse.Namespace) -> dict[str, object]:
    """The engine settings given on the command line, by option name (unset ones left out)."""
    return {name: getattr(args, name) for name in _FLAGS if getattr(args, name) is not None}


def engine_options(args: argparse.Namespace) -> Options:
    """Options with the command line's engine settings; ValueError naming any invalid one."""
    update = apply_settings(Options(), engine_flags(args))
    if update.errors:
        raise ValueError("; ".join(_as_flag(error) for error in update.errors))
    return update.options


def _as_flag(error: str) -> str:
    """ "starchat.backendUrl: …" as the command line spells it: "--backend-url: …"."""
    return re.sub(
        rf"^{SECTION}\.(\w+)", lambda m: "--" + re.sub("([A-Z]+)", r"-\1", m[1]).lower(), error
    )
