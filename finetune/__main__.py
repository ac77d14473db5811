"""`python -m starchat.finetune RECIPE.yaml …`, also the module torchrun and accelerate launch."""

import sys

from starchat.finetune.cli import main

sys.exit(main())
