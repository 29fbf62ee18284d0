"""`python -m bridge`: the `sms-bridge` command."""

from bridge.cli.main import main

raise SystemExit(main())
