"""Every metric of the bridge, built on an injected registry, with typed recording methods and /metrics.

The counters and histograms are metric_families' lock-free ones: the bridge records them only on
the event loop's thread (see there). The gauges and the build info stay prometheus_client's; they
read live state when scraped.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Literal, Protocol, get_args

from prometheus_client import CollectorRegistry, Gauge, Info, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Message, Receive, Scope, Send

from bridge import __version__
from bridge.errors import MalformedReason, Outcome, PublishReason, Reason, RequestReason, VerificationReason
from bridge.events import EventType, Status
from bridge.kafka.causes import KAFKA_CAUSES, KafkaCause
from bridge.metric_families import CounterChild, CounterFamily, HistogramChild, HistogramFamily

PREFIX: Final = "sms_bridge"
PublishOutcome = Literal["ok", "failed"]
PublishFailure = PublishReason

OUTCOMES: Final[tuple[Outcome, ...]] = get_args(Outcome)
PUBLISH_OUTCOMES: Final[tuple[PublishOutcome, ...]] = get_args(PublishOutcome)
# Refusals before anything is stored; `not_found` has no account (see NO_ACCOUNT).
REJECTION_REASONS: Final[tuple[Reason, ...]] = tuple(
    r for r in (*get_args(RequestReason), *get_args(VerificationReason)) if r != "not_found"
)
DEAD_LETTER_REASONS: Final[tuple[MalformedReason, ...]] = get_args(MalformedReason)
PUBLISH_FAILURES: Final[tuple[PublishReason, ...]] = get_args(PublishReason)
STATUSES: Final = tuple(s.value for s in Status)

# Reply and publish times. Dense around the deadlines the bridge enforces, so a quantile never
# interpolates across one: Alibaba-style 0.6 s reply deadlines, the spool's 1 s Kafka budget, the
# 5 s produce timeout and the 10 s reply deadline each have a bucket at the deadline and one a
# few percent above it.
LATENCY_BUCKETS: Final = (
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.6, 0.65, 0.75, 1.0,
    1.1, 1.5, 2.0, 3.0, 4.0, 5.0, 5.25, 6.0, 8.0, 10.0, 10.5, 15.0, 30.0,
)  # fmt: skip
# Event time at the provider to reception: sub-second for live traffic, hours for retried backlogs.
LAG_BUCKETS: Final = (
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0,
)  # fmt: skip
NO_ACCOUNT: Final = "none"  # provider and account of callbacks to no configured path (404)
FINAL_LABELS: Final = ("false", "true")  # the `final` label of a receipt, indexed by its `final`
NO_REGION: Final = "unknown"  # region of receipts whose recipient's country is not known


def region_label(region: str | None) -> str:
    """An ISO 3166-1 alpha-2 code as given, anything else `unknown`: the label set stays closed."""
    if region is not None and len(region) == 2 and region.isascii() and region.isalpha() and region.isupper():
        return region
    return NO_REGION


class BridgeMetrics:
    """The bridge's metric families; label values come from closed sets or the configuration.

    Every labelled series of a configured account is exported from the start (add_instance), so
    rates and ratios have data, and alerts on them work, before the first event. The one
    exception is `region`: a receipt's country opens its delivered/undelivered/unknown series
    together, on the first receipt for that country (exporting ~250 countries for every account
    would multiply the series for countries that never appear).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._done: dict[tuple[str, str, str], tuple[CounterChild, HistogramChild]] = {}
        self._published: dict[
            tuple[str, str, str, str, str | None, str | None, bool],
            tuple[CounterChild, HistogramChild, CounterChild | None],
        ] = {}
        p = PREFIX
        account = ["provider", "account"]
        self.callbacks = CounterFamily(
            f"{p}_callbacks", "Callbacks handled, by outcome.", [*account, "outcome"], registry
        )
        self.rejections = CounterFamily(
            f"{p}_callback_rejections",
            "Callbacks refused before anything was stored (request and verification errors), by reason.",
            [*account, "reason"],
            registry,
        )
        self.records = CounterFamily(
            f"{p}_records_published", "Event records acknowledged by Kafka.", [*account, "type", "topic"], registry
        )
        self.publish_failures = CounterFamily(
            f"{p}_publish_failures", "Publishes that Kafka did not acknowledge, by reason.", ["reason"], registry
        )
        self.dead_letters = CounterFamily(
            f"{p}_dead_letters", "Dead-letter records written.", [*account, "reason"], registry
        )
        self.delivery_statuses = CounterFamily(
            f"{p}_delivery_statuses",
            "Delivery receipts published, by status, whether it is final (the provider's last word on the message: "
            "true/false) and the recipient's country (ISO 3166-1 alpha-2).",
            [*account, "status", "final", "region"],
            registry,
        )
        self.callback_duration = HistogramFamily(
            f"{p}_callback_duration_seconds",
            "Time from request to reply, by outcome.",
            [*account, "outcome"],
            registry,
            buckets=LATENCY_BUCKETS,
        )
        self.publish_durations = HistogramFamily(
            f"{p}_publish_duration_seconds",
            "Time for Kafka to acknowledge (ok) or fail (failed) one publish of records.",
            ["outcome"],
            registry,
            buckets=LATENCY_BUCKETS,
        )
        self.receipt_lag = HistogramFamily(
            f"{p}_event_lag_seconds",
            "Event time at the provider to reception by the bridge.",
            [*account, "type"],
            registry,
            buckets=LAG_BUCKETS,
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
        self.replays = ReplayCollector()
        registry.register(self.replays)
        self.connect_failures = ConnectFailureCollector()
        registry.register(self.connect_failures)
        for reason in PUBLISH_FAILURES:
            self.publish_failures.labels(reason)
        self._publish_done = {outcome: self.publish_durations.labels(outcome) for outcome in PUBLISH_OUTCOMES}
        self.rejections.labels(NO_ACCOUNT, NO_ACCOUNT, "not_found")

    def add_instance(self, provider: str, account: str, *, topics: Mapping[EventType, str] | None = None) -> None:
        """Export zeros for every series of a configured account. `topics` maps each event type
        to its topic (Settings.kafka.topics.by_type()); without it, records start at the first event."""
        for outcome in OUTCOMES:
            self.callbacks.labels(provider, account, outcome)
            self.callback_duration.labels(provider, account, outcome)
        for reason in REJECTION_REASONS:
            self.rejections.labels(provider, account, reason)
        for malformed in DEAD_LETTER_REASONS:
            self.dead_letters.labels(provider, account, malformed)
        for status in STATUSES:
            for final in FINAL_LABELS:
                self.delivery_statuses.labels(provider, account, status, final, NO_REGION)
        for event_type in EventType:
            self.receipt_lag.labels(provider, account, event_type.value)
            if topics is not None and event_type in topics:
                self.records.labels(provider, account, event_type.value, topics[event_type])

    def callback_done(self, provider: str, account: str, outcome: Outcome, seconds: float) -> None:
        """One callback answered: its outcome and its time from request to reply."""
        key = (provider, account, outcome)
        children = self._done.get(key)
        if children is None:  # labels() costs a lock and a lookup; the label sets are few and fixed
            children = (self.callbacks.labels(*key), self.callback_duration.labels(*key))
            self._done[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def event_published(
        self,
        provider: str,
        account: str,
        event_type: str,
        topic: str,
        status: str | None,
        region: str | None,
        lag_seconds: float,
        *,
        final: bool = False,
    ) -> None:
        """One event record acknowledged: its count, its lag and, for receipts (status not None),
        the status and whether it is final by the recipient's region (None: `unknown`)."""
        key = (provider, account, event_type, topic, status, region, final)
        children = self._published.get(key)
        if children is None:  # labels() costs a lock and a lookup; the label sets are few and fixed
            statuses = None
            if status is not None:
                label = region_label(region)
                for other in STATUSES:  # a new country opens all its statuses at once
                    for closing in FINAL_LABELS:
                        self.delivery_statuses.labels(provider, account, other, closing, label)
                statuses = self.delivery_statuses.labels(provider, account, status, FINAL_LABELS[final], label)
            children = (
                self.records.labels(provider, account, event_type, topic),
                self.receipt_lag.labels(provider, account, event_type),
                statuses,
            )
            self._published[key] = children
        children[0].inc()
        children[1].observe(max(0.0, lag_seconds))
        if children[2] is not None:
            children[2].inc()

    def callback_rejected(self, provider: str, account: str, reason: Reason) -> None:
        """A callback refused before anything was stored (never a dead letter: see dead_lettered)."""
        self.rejections.labels(provider, account, reason).inc()

    def dead_lettered(self, provider: str, account: str, reason: Reason) -> None:
        """One dead-letter record written (a callback may dead-letter some reports, publish others)."""
        self.dead_letters.labels(provider, account, reason).inc()

    def publish_done(self, outcome: PublishOutcome, seconds: float) -> None:
        """One publish to Kafka ended: acknowledged (`ok`) or not (`failed`), after `seconds`."""
        self._publish_done[outcome].observe(seconds)

    def publish_failed(self, reason: PublishFailure) -> None:
        self.publish_failures.labels(reason).inc()

    def watch_replays(self, provider: str, account: str, cache: ReplayMemory) -> None:
        """Export an account's replay memory: its size and the keys it had to forget early."""
        self.replays.caches.append((provider, account, cache))

    def watch_in_flight(self, in_flight: Callable[[], int]) -> None:
        """The in-flight gauge reads the live count when collected (no gauge write per callback)."""
        self.in_flight.set_function(lambda: float(in_flight()))

    def watch_health(
        self,
        ready: Callable[[], bool],
        connected: Callable[[], bool],
        connect_failures: Callable[[], Mapping[KafkaCause, int]] | None = None,
    ) -> None:
        """The health gauges, and the failed attempts to reach Kafka by cause, read the live state
        whenever they are collected."""
        self.ready.set_function(lambda: 1.0 if ready() else 0.0)
        self.kafka_connected.set_function(lambda: 1.0 if connected() else 0.0)
        if connect_failures is not None:
            self.connect_failures.read = connect_failures

    def asgi(self) -> MetricsApp:
        """The /metrics endpoint: prometheus_client's own exposition, which negotiates OpenMetrics
        (Accept), gzip (Accept-Encoding) and `name[]` filters."""
        return MetricsApp(self.registry)


class ReplayMemory(Protocol):
    """What /metrics reads of an account's replay memory (bridge.http.replay_cache.ReplayCache)."""

    evicted: int

    def __len__(self) -> int: ...


class ReplayCollector(Collector):
    """The replay memories of the accounts whose kinds sign a nonce or a time, read when scraped."""

    def __init__(self) -> None:
        self.caches: list[tuple[str, str, ReplayMemory]] = []

    def collect(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily(
            f"{PREFIX}_replay_cache_entries", "Signatures and nonces remembered to refuse replays.",
            labels=["provider", "account"],
        )
        evictions = CounterMetricFamily(
            f"{PREFIX}_replay_evictions", "Replay keys forgotten before their window ended because the memory "
            "was full (replay_cache_size): those callbacks could be replayed.", labels=["provider", "account"],
        )
        for provider, account, cache in self.caches:
            entries.add_metric([provider, account], len(cache))
            evictions.add_metric([provider, account], cache.evicted)
        yield entries
        yield evictions


class ConnectFailureCollector(Collector):
    """Failed attempts to reach Kafka, by cause (every cause exported from the start), read from the
    publisher when scraped."""

    def __init__(self) -> None:
        self.read: Callable[[], Mapping[KafkaCause, int]] = dict

    def collect(self) -> Iterator[Metric]:
        failures = CounterMetricFamily(
            f"{PREFIX}_kafka_connect_failures", "Failed attempts to reach Kafka (connect or metadata probe), "
            "by cause: refused, dns, unreachable, timeout, closed, tls_certificate, tls_hostname, tls, auth, "
            "unknown.", labels=["cause"],
        )
        counts = self.read()
        for cause in KAFKA_CAUSES:
            failures.add_metric([cause], counts.get(cause, 0))
        yield failures


class MetricsApp:
    """A typed ASGI app around prometheus_client's untyped make_asgi_app (a class, not a function,
    so Starlette's Route treats it as an ASGI app, not as a request-response endpoint)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._app: Callable[[Scope, Receive, Send], Any] = make_asgi_app(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # prometheus_client asserts this
            return

        async def send_lowercase(message: Message) -> None:
            if message["type"] == "http.response.start":  # ASGI header names are lower case
                message["headers"] = [(name.lower(), value) for name, value in message["headers"]]
            await send(message)

        await self._app(scope, receive, send_lowercase)
