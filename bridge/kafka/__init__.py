"""Kafka: the Publisher protocol and its aiokafka producer, group commit, the CloudEvents envelope, dead letters."""
