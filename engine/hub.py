"""Where a model's files come from: a local directory, the Hugging Face cache, or the Hub.

The Hub is asked at most once per load: without a network, `from_pretrained` retries each
file several times (some 40 attempts and minutes for one model), so reachability is checked
first with one short request and an unreachable Hub means the local cache alone.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import httpx
from starchat.engine.base import ModelNotFoundError

_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ModelSource:
    """What to pass to `from_pretrained`: a directory or Hub id, and whether to stay offline."""

    name: str
    local_files_only: bool


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repository id
        return False


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_reachable() -> bool:
    """One short request to the Hub's endpoint, no retries."""
    if _offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        httpx.head(endpoint, timeout=_PROBE_TIMEOUT_S)
    except httpx.HTTPError:
        return False
    return True


def resolve_model(name: str) -> ModelSource:
    """Where `name` (a local directory or a Hub id) loads from; ModelNotFoundError when it
    is neither a directory nor reachable (cached, or the Hub answers)."""
    local = Path(name).expanduser()
    if local.is_dir():
        return ModelSource(str(local.resolve()), local_files_only=True)
    if _looks_like_path(name) or local.exists():
        raise ModelNotFoundError(f"No model directory at {local.resolve()}")
    reachable = hub_reachable()
    if not reachable and not _cached(name):
        raise ModelNotFoundError(
            f"Model '{name}' is not a local directory, is not in the Hugging Face cache, and "
            "the Hub cannot be reached (offline). Pass a local path, or leave the model unset "
            "to use the offline default model."
        )
    return ModelSource(name, local_files_only=not reachable)
