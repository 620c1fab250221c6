"""`python -m sbcompile` is the `sbcompile` command."""

from sbcompile.cli import main

raise SystemExit(main())
