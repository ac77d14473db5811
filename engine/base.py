"""The engine interface: what every backend offers the server and the command line.

Shaped like TGI's `Backend` and vLLM's `AsyncLLM.generate`: `generate(request)` yields text
chunks and ends with one `Usage`; cancellation is the consumer stopping (closing the async
iterator or cancelling its task), which stops decoding at the next token. Validation and
concurrency limits live outside the backends.
"""

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from starchat.prompts import Message

State = Literal["loading", "ready", "error"]
FinishReason = Literal["stop", "length", "cancelled"]


class EngineError(Exception):
    """Every engine failure, with a stable code the server maps to one LSP error."""

    code = "engine_error"


class ModelNotFoundError(EngineError):
    code = "model_not_found"


class ModelLoadError(EngineError):
    code = "model_load_failed"


class BackendUnavailableError(EngineError):
    code = "backend_unavailable"


class BadRequestError(EngineError):
    code = "bad_request"


class PromptTooLongError(BadRequestError):
    code = "prompt_too_long"

    def __init__(self, message: str, excess: int) -> None:
        super().__init__(message)
        self.excess = excess


@dataclass(frozen=True)
class Sampling:
    """Decoding settings; None means the model's default (engine/sampling.py)."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None


@dataclass(frozen=True)
class CacheSlot:
    """Where a conversation's key/value cache is kept between its turns."""

    key: str
    """The conversation's own key (never shared between sessions)."""
    budget_mb: int
    """Megabytes every kept cache of the engine may use together."""


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[Message]
    """The dialogue, ending with the user turn the answer is for."""
    sampling: Sampling = field(default_factory=Sampling)
    seed: int | None = None
    prefix: str = ""
    """The start of the answer, already written (assistant prefill): the model sees it as the
    beginning of its own turn and goes on from there. Chunks hold only the new text; the
    prompt's tokens include the prefix. Used to resume an answer cut by the answer limit."""
    lookup: bool = False
    """The answer will copy much of the prompt (a rewrite of the code in it): draft tokens
    from the prompt's n-grams and verify them in one forward pass (prompt-lookup decoding).
    The answer is the same — token for token when greedy, in distribution when sampled; a
    backend that cannot ignores it."""
    cache: CacheSlot | None = None
    """Reuse the key/value cache of this conversation's previous turn for the prompt's
    common start, and keep this turn's for the next (local models; a served one ignores it)."""


@dataclass(frozen=True)
class CompletionRequest:
    """Raw text continued by the model: a fill-in-the-middle prompt (prompts/fim.py) or the
    code before the cursor. No chat template is applied."""

    prompt: str
    stop: tuple[str, ...] = ()
    """Tokens that end the answer besides the model's end of text: special tokens by name for
    a local model, stop strings for a served one."""
    bos: bool = False
    """Start with the tokenizer's begin-of-sequence token (Llama-style tokenizers)."""
    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.0))
    seed: int | None = None
    cache: CacheSlot | None = None
    """Reuse the key/value cache of the previous completion under this key (the same
    document: consecutive keystrokes share the code before the cursor)."""


Side = Literal["start", "end"]


@dataclass(frozen=True)
class Chunk:
    """New answer text, in order; concatenated chunks are the whole answer."""

    text: str


@dataclass(frozen=True)
class Usage:
    """The last item of every generation."""

    prompt_tokens: int
    generated_tokens: int
    time_to_first_token_s: float | None
    tokens_per_s: float | None
    finish_reason: FinishReason
    cached_tokens: int = 0
    """Prompt tokens whose keys and values came from the previous turn's cache."""

    def to_json(self) -> dict[str, object]:
        return {
            "cachedTokens": self.cached_tokens,
            "promptTokens": self.prompt_tokens,
            "generatedTokens": self.generated_tokens,
            "timeToFirstToken": self.time_to_first_token_s,
            "tokensPerSecond": self.tokens_per_s,
            "finishReason": self.finish_reason,
        }


@dataclass(frozen=True)
class Answer:
    """A whole answer; `usage` is None when the consumer stopped reading before the end."""

    text: str
    usage: Usage | None


async def collect(
    stream: AsyncGenerator[Chunk | Usage, None],
    on_text: Callable[[str], None] = lambda _: None,
    enough: Callable[[str], bool] = lambda _: False,
) -> Answer:
    """Read `stream` to its end, or until `enough(text so far)`, and close it: closing is
    what stops decoding when the reader ends early (a cancelled task, `enough`)."""
    text = ""
    usage: Usage | None = None
    try:
        async for item in stream:
            if isinstance(item, Usage):
                usage = item
                continue
            text += item.text
            on_text(item.text)
            if enough(text):
                break
    finally:
        await stream.aclose()
    return Answer(text, usage)


@dataclass(frozen=True)
class Health:
    state: State
    model: str
    device: str
    message: str | None = None


class Engine(Protocol):
    """A loaded (or loading) model that answers dialogues."""

    @property
    def context_window(self) -> int: ...

    def health(self) -> Health: ...

    async def load(self) -> None:
        """Load the model; safe to call again (a no-op once ready)."""

    def count_tokens(self, messages: list[Message], prefix: str = "") -> int:
        """Tokens of the prompt that `messages` (and the answer's `prefix`) render to."""

    def render_prompt(self, messages: list[Message], prefix: str = "") -> str:
        """The exact prompt the model would receive, the answer's `prefix` included."""

    def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk | Usage, None]:
        """The answer to exactly `request.messages` (fitting them to the window is the
        caller's job, see server/turns.py); PromptTooLongError when they leave no room for
        an answer. `max_new_tokens` is cut to the room the window leaves."""

    def special_tokens(self) -> frozenset[str] | None:
        """The tokenizer's special and added tokens, after loading; None when there is no
        tokenizer at hand (a served model)."""

    def cut(self, text: str, tokens: int, keep: Side) -> str:
        """The end (`keep="end"`) or start of `text` that fits in `tokens` tokens, cut at a
        token boundary (never inside a character)."""

    def complete(self, request: CompletionRequest) -> AsyncGenerator[Chunk | Usage, None]:
        """The continuation of `request.prompt`, streamed like `generate`; it does not wait
        for answers being generated (see server/completions.py)."""

    async def close(self) -> None: ...
