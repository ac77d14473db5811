"""The one error a user of `starchat finetune` sees as a message instead of a traceback."""


class FinetuneError(Exception):
    """Bad input (recipe, data, output directory) described so the user can fix it."""
