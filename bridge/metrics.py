"""Every metric of the bridge, built on an injected registry, with typed recording methods."""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any, Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bridge import __version__
from bridge.errors import Reason

PREFIX: Final = "sms_bridge"
Outcome = Literal["accepted", "rejected", "dead_lettered", "failed"]
PublishFailure = Literal["not_connected", "timeout", "broker_error"]

LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS: Final = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
NO_INSTANCE: Final = "none"


class BridgeMetrics:
    """The bridge's metric families; label values come from closed sets or the configuration."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._done: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._published: dict[tuple[str, str, str, str, str | None], tuple[Any, Any, Any]] = {}
        p = PREFIX
        self.callbacks = Counter(
            f"{p}_callbacks", "Callbacks handled, by outcome.", ["provider", "instance", "outcome"], registry=registry
        )
        self.rejections = Counter(
            f"{p}_callback_rejections",
            "Callbacks rejected, by reason.",
            ["provider", "instance", "reason"],
            registry=registry,
        )
        self.records = Counter(
            f"{p}_records_published", "Records acknowledged by Kafka.", ["type", "topic"], registry=registry
        )
        self.publish_failures = Counter(
            f"{p}_publish_failures", "Callbacks whose records Kafka did not acknowledge.", ["reason"], registry=registry
        )
        self.dead_letters = Counter(
            f"{p}_dead_letters", "Dead-letter records written.", ["provider", "instance", "reason"], registry=registry
        )
        self.delivery_statuses = Counter(
            f"{p}_delivery_statuses",
            "Delivery receipts published, by status.",
            ["provider", "instance", "status"],
            registry=registry,
        )
        self.callback_duration = Histogram(
            f"{p}_callback_duration_seconds",
            "Time from request to reply.",
            ["provider", "instance"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.publish_duration = Histogram(
            f"{p}_publish_duration_seconds",
            "Time for Kafka to acknowledge all records of a callback.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.receipt_lag = Histogram(
            f"{p}_event_lag_seconds",
            "Event time to reception by the bridge.",
            ["provider", "type"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(f"{p}_callbacks_in_flight", "Callbacks being handled now.", registry=registry)
        self.kafka_connected = Gauge(
            f"{p}_kafka_connected",
            "1 when the producer is connected and the broker answered recently.",
            registry=registry,
        )
        self.ready = Gauge(f"{p}_ready", "1 when /readyz answers ready.", registry=registry)
        self.build = Info(f"{p}_build", "Version of the bridge and of Python.", registry=registry)
        self.build.info({"version": __version__, "python": platform.python_version()})

    def add_instance(self, provider: str, instance: str) -> None:
        """Export zeros for a configured instance's outcomes, so rates exist from the start."""
        for outcome in ("accepted", "rejected", "dead_lettered", "failed"):
            self.callbacks.labels(provider, instance, outcome)

    def callback_done(self, provider: str, instance: str, outcome: Outcome, seconds: float) -> None:
        key = (provider, instance, outcome)
        children = self._done.get(key)
        if children is None:  # labels() costs a lock and a lookup; the label sets are few and fixed
            children = (self.callbacks.labels(*key), self.callback_duration.labels(provider, instance))
            self._done[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def event_published(
        self, provider: str, instance: str, event_type: str, topic: str, status: str | None, lag_seconds: float
    ) -> None:
        """One record acknowledged: its count, the event's lag and, for receipts, the status."""
        key = (provider, instance, event_type, topic, status)
        children = self._published.get(key)
        if children is None:  # labels() costs a lock and a lookup; the label sets are few and fixed
            children = (
                self.records.labels(event_type, topic),
                self.receipt_lag.labels(provider, event_type),
                None if status is None else self.delivery_statuses.labels(provider, instance, status),
            )
            self._published[key] = children
        children[0].inc()
        children[1].observe(max(0.0, lag_seconds))
        if children[2] is not None:
            children[2].inc()

    def watch_health(self, ready: Callable[[], bool], connected: Callable[[], bool]) -> None:
        """The health gauges read the live state whenever they are collected."""
        self.ready.set_function(lambda: 1.0 if ready() else 0.0)
        self.kafka_connected.set_function(lambda: 1.0 if connected() else 0.0)

    def callback_rejected(self, provider: str, instance: str, reason: Reason) -> None:
        self.rejections.labels(provider, instance, reason).inc()

    def dead_lettered(self, provider: str, instance: str, reason: Reason) -> None:
        self.dead_letters.labels(provider, instance, reason).inc()

    def publish_failed(self, reason: PublishFailure) -> None:
        self.publish_failures.labels(reason).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, with its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
