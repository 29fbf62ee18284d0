"""The durable spool's metric families, on the same registry and prefix as the bridge's others."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from bridge.metrics import PREFIX


class SpoolMetrics:
    """The durable spool's families, registered only when `spool:` is configured (cli/serve.py's
    build_app builds them on the registry it passes to create_app)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        p = PREFIX
        self.records = Gauge(f"{p}_spool_records", "Records in the spool, waiting for Kafka.", registry=registry)
        self.bytes = Gauge(f"{p}_spool_bytes", "Bytes of the records in the spool.", registry=registry)
        self.oldest_age = Gauge(
            f"{p}_spool_oldest_age_seconds", "Age of the oldest record in the spool (0 when empty).", registry=registry
        )
        self.healthy = Gauge(f"{p}_spool_healthy", "1 when the spool file is open and usable.", registry=registry)
        self.written = Counter(f"{p}_spool_written_records", "Records committed to the spool.", registry=registry)
        self.drained = Counter(
            f"{p}_spool_drained_records",
            "Records removed from the spool once Kafka acknowledged them.",
            registry=registry,
        )
        self.write_failures = Counter(
            f"{p}_spool_write_failures", "Callbacks the spool could not store (full or failing).", registry=registry
        )

    def watch(
        self,
        records: Callable[[], float],
        size: Callable[[], float],
        oldest_age: Callable[[], float],
        healthy: Callable[[], bool],
    ) -> None:
        """The gauges read the spool's live state whenever they are collected."""
        self.records.set_function(records)
        self.bytes.set_function(size)
        self.oldest_age.set_function(oldest_age)
        self.healthy.set_function(lambda: 1.0 if healthy() else 0.0)

    def spool_written(self, records: int) -> None:
        self.written.inc(records)

    def spool_drained(self, records: int) -> None:
        self.drained.inc(records)

    def spool_write_failed(self) -> None:
        self.write_failures.inc()
