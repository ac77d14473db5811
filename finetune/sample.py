"""One answer from the trained model at the end of a run, safe under ZeRO-3.

Under ZeRO-3 every rank holds a shard of each weight, and a forward pass gathers the shards
collectively. A rank that generates alone (or stops earlier than the others) leaves the rest
waiting in a gather forever. So every rank generates the same prompt with the same seed and
`synced_gpus=True`, which keeps each rank stepping until all are done; rank 0 reports it.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def sample_answer(
    model: "PreTrainedModel",
    tokenizer: "PreTrainedTokenizerBase",
    prompt: str,
    max_new_tokens: int,
    seed: int,
) -> str:
    import torch
    import torch.distributed as dist
    from transformers.integrations import is_deepspeed_zero3_enabled

    model.eval()
    if getattr(model, "is_activation_checkpointing", False):
        model.activation_checkpointing_disable()
    encoded: Any = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    inputs = encoded.to(model.device)
    synced = is_deepspeed_zero3_enabled() and dist.is_initialized() and dist.get_world_size() > 1
    torch.manual_seed(seed)
    with torch.no_grad():
        output = model.generate(  # type: ignore[operator]
            **inputs, max_new_tokens=max_new_tokens, synced_gpus=synced, use_cache=True
        )
    prompt_length = inputs["input_ids"].shape[1]
    return str(tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True))
