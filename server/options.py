"""The server's settings: one typed, fully defaulted object, validated key by key.

The same keys arrive three ways: `initializationOptions`, `workspace/didChangeConfiguration`
(VS Code sends its `starchat.<key>` settings as `{"starchat": {...}}`; other editors often send
the bare object) and the command line. Each key is validated on its own, so one bad value is
reported by its exact name (`starchat.temperature`) while the server keeps that setting's
previous value and still applies the valid ones. Keys the server does not know (VS Code's
client-side `starchat.server.*`, `starchat.trace.*`) are ignored and logged.

Defaults match the VS Code extension's `package.json` (a test compares them): empty strings
and 0 mean "the built-in default" there, so they do here. A dotted setting
(`starchat.edits.preview`) is one key, `edits.preview`, sent flat or nested.

A shared (TCP) server locks the settings that choose what runs and where prompts go
(`OPERATOR_SETTINGS`): a client's value for one of them is refused by name, never applied,
unless it merely repeats the server's value or the default (which editors send unasked).
`token` is the TCP session's credential, not a setting: it is accepted and never stored.
A rejected value is quoted with any password in a URL hidden.
"""

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from starchat.engine import EngineSettings, Sampling
from starchat.engine.sampling import STARCHAT_SAMPLING
from starchat.prompts import system_prompt
from starchat.server.completions import Budget
from starchat.server.redaction import redact

SECTION = "starchat"
"""The settings section: VS Code's `starchat.*` settings, `{"starchat": {...}}` on the wire."""

DEFAULT_SYSTEM_PROMPT = "technical-assistant"


def _default(name: str) -> Any:
    """StarChat's model-card sampling is every model's default setting (the model may add its
    own for fields the settings do not cover, such as the offline model's repetition penalty)."""
    return getattr(STARCHAT_SAMPLING, name)


FimChoice = Literal[
    "auto", "starcoder", "deepseek-coder", "codellama", "codegemma", "qwen2.5-coder", "none"
]
"""`fimFormat`: the names in prompts/fim.toml (a test keeps them equal), auto and none."""

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")


class Options(BaseModel):
    """Every setting, with its camelCase wire name (`max_new_tokens` ↔ `maxNewTokens`)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, strict=True
    )

    model: str = ""
    """Hub id or local directory (openai backend: the served model's name); "" = offline default."""
    backend: Literal["transformers", "openai"] = "transformers"
    backend_url: str = ""
    """Base URL of an OpenAI-compatible server, for the openai backend."""
    device: str = "auto"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    max_new_tokens: int = Field(default=_default("max_new_tokens"), ge=1, le=8192)
    temperature: float = Field(default=_default("temperature"), ge=0, le=2)
    top_p: float = Field(default=_default("top_p"), ge=0, le=1)
    top_k: int = Field(default=_default("top_k"), ge=0)
    system_prompt: str = ""
    """A named prompt from `prompts/system/` or the text itself; "" = technical-assistant."""
    context_tokens: int = Field(default=0, ge=0)
    """Token budget for prompt plus answer; 0 = the model's context window."""
    edits_preview: bool = Field(default=True, alias="edits.preview")
    """Ask the editor to show each rewrite as a diff to accept or discard, where it can."""
    workspace_context_tokens: int = Field(default=1024, ge=0, le=32768)
    """Most tokens of a prompt that code from the workspace index may take; 0 = index off."""
    exclude: list[str] = Field(default_factory=list)
    """Gitignore-style globs the workspace index never reads (beyond .gitignore and secrets)."""
    completion_model: str = ""
    """Model for inline completions (Hub id, local directory, or served name); "" = the chat
    model (filling in the middle only when its tokenizer has FIM tokens)."""
    fim_format: FimChoice = "auto"
    """Fill-in-the-middle format (prompts/fim.toml); auto = from the tokenizer's special
    tokens (openai backend: from the model's name); none = left to right from the prefix."""
    max_completion_tokens: int = Field(default=64, ge=1, le=1024)
    completion_prefix_tokens: int = Field(default=1536, ge=16, le=16384)
    """Most tokens of the code before the cursor an inline completion's prompt holds."""
    completion_suffix_tokens: int = Field(default=512, ge=0, le=16384)
    """Most tokens of the code after the cursor an inline completion's prompt holds."""
    prompt_lookup: bool = True
    """Prompt-lookup decoding for rewrites and questions about code (local models): the same
    answer, sooner when it copies the code; off = one token per forward pass."""
    compile: bool = False
    """CUDA: decode with a static cache compiled by torch.compile (compiled when the model
    loads, which takes minutes); reloads the model. Elsewhere it stays eager (status says)."""
    kv_cache_mb: int = Field(default=1024, ge=0, le=1048576, alias="kvCacheMB")
    """Megabytes of key/value caches kept between a conversation's turns, so a follow-up
    encodes only its new tokens (local models); 0 = off."""

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("use auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("backend_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("use an http:// or https:// URL, e.g. http://gpu-box:8000/v1")
        return value

    def engine_settings(self) -> EngineSettings:
        """What the engine loads. Only the openai backend needs `contextTokens` (it cannot
        read the window from a tokenizer); for local models the server applies the budget
        itself, so changing it does not reload the model."""
        return EngineSettings(
            model=self.model or None,
            backend=self.backend,
            backend_url=self.backend_url or None,
            device=self.device,
            dtype=self.dtype,
            context_tokens=(self.context_tokens or None) if self.backend == "openai" else None,
            compile=self.compile and self.backend == "transformers",
        )

    def completion_engine_settings(self) -> EngineSettings | None:
        """What the completion engine loads; None: completions use the chat model."""
        if not self.completion_model or self.completion_model == self.model:
            return None
        return replace(self.engine_settings(), model=self.completion_model)

    def completion_budget(self) -> Budget:
        """The tokens an inline completion reads around the cursor and writes."""
        return Budget(
            self.completion_prefix_tokens, self.completion_suffix_tokens, self.max_completion_tokens
        )

    def sampling(self) -> Sampling:
        return Sampling(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
        )

    def system_text(self) -> str:
        return system_prompt(self.system_prompt or DEFAULT_SYSTEM_PROMPT)

    def context_window(self, model_window: int) -> int:
        """The token budget for prompt plus answer."""
        return min(model_window, self.context_tokens) if self.context_tokens else model_window


OPERATOR_SETTINGS = frozenset(
    {"model", "completionModel", "backend", "backendUrl", "device", "dtype", "compile", "kvCacheMB"}
)
"""Wire names of the settings only the operator of a shared server may choose (`kvCacheMB`
too: the caches share one store per engine, so one client's budget would be everyone's)."""

_CREDENTIALS = frozenset({"token"})
"""Keys a client sends that are not settings and are never echoed."""

_NAMES: dict[str, str] = {
    name: info.alias or name for name, info in Options.model_fields.items()
} | {info.alias or name: info.alias or name for name, info in Options.model_fields.items()}
"""Accepted key (camelCase or snake_case) → wire name."""


@dataclass
class OptionsUpdate:
    """The outcome of applying settings: the new options and what to tell the user."""

    options: Options
    errors: list[str] = field(default_factory=list)
    """One line per rejected setting, naming it, e.g. "starchat.temperature: …"."""
    ignored: list[str] = field(default_factory=list)
    """Keys this server does not know."""
    refused: list[str] = field(default_factory=list)
    """Locked settings the client tried to change, e.g. "starchat.backendUrl"."""


def apply_settings(
    current: Options, raw: object, locked: frozenset[str] = frozenset()
) -> OptionsUpdate:
    """`current` updated with the valid keys of `raw`; invalid keys keep their current value.

    `raw` is the bare settings object or `{"starchat": {...}}`; None means no change. A key set
    to null returns to its default. Keys in `locked` (wire names) keep their current value.
    """
    if raw is None:
        return OptionsUpdate(current)
    if isinstance(raw, dict) and isinstance(raw.get(SECTION), dict):
        raw = raw[SECTION]
    if not isinstance(raw, dict):
        return OptionsUpdate(
            current, errors=[f"{SECTION}: settings must be an object, not {_kind(raw)}"]
        )
    values = current.model_dump(by_alias=True)
    defaults = Options().model_dump(by_alias=True)
    update = OptionsUpdate(current)
    for key, value in _flattened(raw).items():
        name = _NAMES.get(str(key))
        if key in _CREDENTIALS:
            continue
        if name is None:
            update.ignored.append(f"{SECTION}.{key}")
            continue
        if name in locked:
            if value not in (None, values[name], defaults[name]):
                update.refused.append(f"{SECTION}.{name}")
            continue
        candidate = {**values, name: defaults[name] if value is None else value}
        try:
            Options.model_validate(candidate)
        except ValidationError as error:
            update.errors.append(_describe(name, value, error))
            continue
        values = candidate
    update.options = Options.model_validate(values)
    return update


def _flattened(raw: dict[Any, Any]) -> dict[Any, Any]:
    """Dotted settings sent nested (`{"edits": {"preview": false}}`, as VS Code's
    `workspace/configuration` answers) under their dotted names (`edits.preview`)."""
    flat: dict[Any, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and any(n.startswith(f"{key}.") for n in _NAMES):
            flat.update({f"{key}.{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


def _describe(name: str, value: Any, error: ValidationError) -> str:
    details = "; ".join(e["msg"] for e in error.errors())
    shown = redact(repr(value))
    shown = shown if len(shown) <= 80 else shown[:77] + "…"
    return f"{SECTION}.{name}: {details} (got {shown})"


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
