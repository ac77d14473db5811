"""Turning a base model into a StarChat model: chat tokens, embeddings, template, stopping.

What is saved here is what `starchat serve --model <output_dir>` reads: the tokenizer with
the four chat tokens and `prompts/starchat.jinja` as its chat template (the very file the
server renders), and a generation config whose `eos_token_id` starts with `<|end|>`, with
StarChat-alpha's published sampling settings as the model's defaults.
"""

from dataclasses import replace
from typing import TYPE_CHECKING

from starchat.engine.sampling import STARCHAT_SAMPLING
from starchat.finetune.config import ModelArguments
from starchat.finetune.errors import FinetuneError
from starchat.prompts import END_TOKEN, STARCHAT_SPECIAL_TOKENS, STARCHAT_TEMPLATE

if TYPE_CHECKING:
    from peft import LoraConfig
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase


def _sampling_defaults() -> dict[str, object]:
    """StarChat-alpha's model-card settings (engine/sampling.py), as generation-config fields."""
    defaults = STARCHAT_SAMPLING
    return {
        "do_sample": True,
        "temperature": defaults.temperature,
        "top_k": defaults.top_k,
        "top_p": defaults.top_p,
        "max_new_tokens": defaults.max_new_tokens,
    }


def load_model_config(name: str) -> "PretrainedConfig":
    """The model's config.json (small), to check settings before any weights load."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FinetuneError(
            f"cannot read the config of model {name!r} ({first}). Give a local directory, or a "
            "Hub id with the network reachable (HF_HUB_OFFLINE unset) or already cached"
        ) from None


def context_length(config: "PretrainedConfig") -> int | None:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def load_tokenizer(name: str) -> tuple["PreTrainedTokenizerBase", list[int]]:
    """The tokenizer with the chat tokens (and the ids it lacked) and the StarChat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    vocab = tokenizer.get_vocab()
    missing = [token for token in STARCHAT_SPECIAL_TOKENS if token not in vocab]
    if missing:
        tokenizer.add_special_tokens(
            {"extra_special_tokens": missing}, replace_extra_special_tokens=False
        )
    tokenizer.chat_template = STARCHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, [_token_id(tokenizer, token) for token in missing]


def load_model(args: ModelArguments, tokenizer: "PreTrainedTokenizerBase") -> "PreTrainedModel":
    """The base weights, embeddings resized for the chat tokens, StarChat generation config."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        args.model_name_or_path or "",
        dtype=args.dtype,
        attn_implementation=args.attn_implementation,
    )
    model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=args.pad_vocab_to_multiple_of)
    set_generation_config(model, tokenizer)
    return model


def set_generation_config(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase") -> None:
    from transformers import GenerationConfig

    end = _token_id(tokenizer, END_TOKEN)
    stops = [end] + ([tokenizer.eos_token_id] if tokenizer.eos_token_id not in (None, end) else [])
    model.generation_config = GenerationConfig(
        eos_token_id=stops,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        **_sampling_defaults(),
    )


def lora_config(
    args: ModelArguments, model: "PreTrainedModel", added_token_ids: list[int]
) -> "LoraConfig":
    """TRL's LoRA config from the recipe; with new chat tokens the embeddings train too.

    A token new to the vocabulary has a placeholder embedding, and the model can only learn
    to stop on `<|end|>` if its row (tied to the output layer in gpt_bigcode) trains. The
    embedding matrix is therefore trained in full, kept tied to the output layer. (Adapter
    rows on the output layer would be invisible to TRL's fused loss, which reads the output
    weight directly.)
    """
    from peft import LoraConfig
    from trl import get_peft_config

    config = get_peft_config(args)
    assert isinstance(config, LoraConfig)
    if not added_token_ids:
        return config
    embeddings = model.get_input_embeddings()
    name = next(n for n, module in model.named_modules() if module is embeddings)
    return replace(
        config,
        modules_to_save=[*(config.modules_to_save or []), name.rsplit(".", 1)[-1]],
        ensure_weight_tying=bool(model.config.get_text_config().tie_word_embeddings),
    )


def _token_id(tokenizer: "PreTrainedTokenizerBase", token: str) -> int:
    found = tokenizer.convert_tokens_to_ids(token)
    assert isinstance(found, int)
    return found
