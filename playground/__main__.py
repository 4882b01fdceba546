"""``python -m playground ...``: the command line (see ``playground.cli``)."""
from playground.cli import main

raise SystemExit(main())
