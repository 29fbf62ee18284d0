"""`python -m bridge`: the `bridge` command."""

from bridge.cli import main

raise SystemExit(main())
