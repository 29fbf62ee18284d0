"""The SMS callback bridge: provider webhooks in, CloudEvents on Kafka out."""

__version__ = "0.1.0"
