"""The `sms-bridge` command and its subcommands: serve, check-config, dev, send, tail, redrive."""
