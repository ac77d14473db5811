"""`python -m starchat.server`: the language server over stdio (or `--tcp PORT`)."""

from starchat.server.serve import main

main()
