"""`starchat finetune RECIPE.yaml [--field value …]`: train, dump examples, or size the GPUs.

`main(argv)` is what `starchat finetune`, `python -m starchat.finetune` and
`torchrun … -m starchat.finetune` all call. A user mistake ends in one `starchat finetune:
error: …` line and exit status 1, never a traceback.
"""

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from starchat.finetune.errors import FinetuneError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args)
    except FinetuneError as error:
        print(f"starchat finetune: error: {error}", file=sys.stderr)
        return 1
    except ImportError as error:
        print(
            f"starchat finetune: error: {error.name or error} is missing; install the training "
            "extra: pip install 'starchat-lsp[train]'",
            file=sys.stderr,
        )
        return 1
    except SystemExit as exit_:  # argparse: --help, or a malformed value it already explained
        return exit_.code if isinstance(exit_.code, int) else 1
    except KeyboardInterrupt:
        return 130


def _run(args: list[str]) -> int:
    from starchat.finetune.config import parse_invocation

    invocation = parse_invocation(args)
    recipe = invocation.recipe
    if invocation.estimate_memory:
        from starchat.finetune.memory import estimate_memory

        print(estimate_memory(recipe))
        return 0
    if invocation.dump_examples:
        from starchat.finetune.train import dump_examples

        count, path = invocation.dump_examples
        return dump_examples(recipe, count, Path(path))
    from starchat.finetune.train import train

    return train(recipe)
