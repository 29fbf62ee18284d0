"""Publishing records to Kafka: the bridge's one producer (the only module that creates one)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
)

from bridge.errors import PublishError
from bridge.kafka.causes import KafkaCause
from bridge.kafka.envelope import KafkaRecord
from bridge.kafka.group_commit import GroupCommit
from bridge.kafka.link import cause_of, diagnose, host_port, producer_options, watch_connections
from bridge.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)

PROBE_INTERVAL_SECONDS: Final = 2.0
DOWN_PROBE_INTERVAL_SECONDS: Final = 0.5  # while disconnected: notice the broker's return quickly
STALE_AFTER_SECONDS: Final = 10.0
RECONNECT_BACKOFF_SECONDS: Final = (0.2, 0.5, 1.0, 2.0, 5.0)


class Publisher(Protocol):
    """Writes records to Kafka.

    publish() returns only when Kafka has acknowledged every record it was given (acks=all);
    otherwise it raises PublishError, and the caller may assume nothing about which records,
    if any, were stored (a retry writes them again with the same event ids). It raises
    nothing else. `deadline`, when given, is the event loop's time (loop.time()) by which the
    caller needs the answer: a spooling publisher shortens its budget to answer in time; a
    publisher may ignore it. `ready` is true when the producer is connected and the broker answered
    recently; `accepting` is true when publish() can store records now (for a Kafka-only
    publisher the same as `ready`; a spooling one also while its spool has room). `cause` is
    why Kafka cannot be reached, when not `ready` and known (else None); `connect_failures`
    counts failed attempts to reach Kafka by cause. stop() flushes what is in flight, then closes.
    """

    @property
    def ready(self) -> bool: ...

    @property
    def accepting(self) -> bool: ...

    @property
    def cause(self) -> KafkaCause | None: ...

    @property
    def connect_failures(self) -> Mapping[KafkaCause, int]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, records: Sequence[KafkaRecord], *, deadline: float | None = None) -> None: ...


class KafkaPublisher:
    """A Publisher on aiokafka that connects in the background and keeps probing the broker.

    When the broker is known to be unreachable (a probe failed, a write failed for want of a
    connection, or aiokafka's client lost a connection or failed to open one: see
    watch_connections), publish() raises PublishError("not_connected") at once instead of
    waiting for the produce deadline, until a probe succeeds again. Callbacks already waiting
    keep their produce deadline (their records may still be acknowledged). Connection state changes are logged
    once each (`kafka_connected`, `kafka_disconnected`, `kafka_reconnected`); failed attempts to
    reach Kafka (`kafka_connect_failed`) once per change of their cause (bridge.kafka.causes).
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._deadline = settings.produce_timeout_seconds
        self._producer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._last_ok = 0.0
        self._stopping = False
        self._connected = asyncio.Event()
        self._down_since: float | None = None  # monotonic time of the failure that made it known down
        self._kick = asyncio.Event()  # wakes the probe at once after a failed write
        self._group: GroupCommit | None = None
        self._cause: KafkaCause | None = None  # why Kafka is unreachable, while it is
        self._logged_cause: KafkaCause | None = None
        self._failures: Counter[KafkaCause] = Counter()

    @property
    def ready(self) -> bool:
        return (
            self._producer is not None
            and self._down_since is None
            and time.monotonic() - self._last_ok < STALE_AFTER_SECONDS
        )

    @property
    def accepting(self) -> bool:
        return self.ready

    @property
    def cause(self) -> KafkaCause | None:
        return None if self.ready else self._cause

    @property
    def connect_failures(self) -> Mapping[KafkaCause, int]:
        return self._failures

    async def start(self) -> None:
        """Start connecting; returns at once. The first connection is awaited up to a second."""
        self._task = asyncio.create_task(self._run(), name="kafka-publisher")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 1.0)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            producer = AIOKafkaProducer(**producer_options(self._settings))
            watch_connections(producer, current=self._is_current(producer), down=self._link_down)
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                await _close_quietly(producer)
                delay = RECONNECT_BACKOFF_SECONDS[min(attempt, len(RECONNECT_BACKOFF_SECONDS) - 1)]
                attempt += 1
                await self._failed(exc)
                await asyncio.sleep(delay)
                continue
            self._producer = producer
            self._group = GroupCommit(producer, self._deadline)
            self._last_ok = time.monotonic()
            self._cause = self._logged_cause = None
            self._connected.set()
            log.info("kafka producer connected", extra={"event": "kafka_connected", "attempts": attempt + 1})
            break
        while not self._stopping:
            interval = PROBE_INTERVAL_SECONDS if self._down_since is None else DOWN_PROBE_INTERVAL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), interval)
            self._kick.clear()
            try:
                async with asyncio.timeout(PROBE_INTERVAL_SECONDS * 2):
                    await self._producer.client.fetch_all_metadata()
            except (KafkaError, OSError, TimeoutError) as exc:
                await self._failed(exc)
            else:
                self._mark_up()
                if self._group is not None:
                    self._group.forget_partitions()  # partitions_for() again: a topic may have grown

    async def _failed(self, error: BaseException) -> None:
        """A connection attempt or probe failed: count it by cause, mark Kafka down once connected, and
        log the cause when it differs from the last one logged (the retries are the same story)."""
        cause = cause_of(error)
        if cause == "unknown":  # aiokafka's bootstrap and metadata errors drop the failure: look again
            addresses = [host_port(a) for a in self._settings.bootstrap_servers]
            if self._producer is not None:
                addresses += [(b.host, b.port) for b in self._producer.client.cluster.brokers()]
            cause = await diagnose(self._settings, list(dict.fromkeys(addresses)))
        self._failures[cause] += 1
        self._cause = cause
        if self._producer is not None:
            self._mark_down(cause, f"probe: {type(error).__name__}")
        if cause != self._logged_cause:
            self._logged_cause = cause
            log.warning(
                f"kafka connect failed, retrying: {cause}",
                extra={"event": "kafka_connect_failed", "cause": cause, "error": type(error).__name__},
            )

    def _is_current(self, producer: Any) -> Callable[[], bool]:
        return lambda: self._producer is producer

    def _link_down(self, cause: KafkaCause | None, detail: str) -> None:
        self._mark_down(cause or self._cause or "unknown", detail)

    def _mark_down(self, cause: KafkaCause, detail: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._cause = self._logged_cause = cause
            self._kick.set()
            log.warning(
                f"kafka connection lost: {cause}",
                extra={"event": "kafka_disconnected", "cause": cause, "detail": detail},
            )

    def _mark_up(self) -> None:
        self._last_ok = time.monotonic()
        self._cause = self._logged_cause = None
        if self._down_since is not None:
            down_for = round(self._last_ok - self._down_since, 1)
            self._down_since = None
            log.info("kafka connection restored", extra={"event": "kafka_reconnected", "down_seconds": down_for})

    async def stop(self) -> None:
        """Flush what is in flight, then close the producer."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                async with asyncio.timeout(self._deadline):
                    await producer.flush()
            await _close_quietly(producer)

    async def publish(self, records: Sequence[KafkaRecord], *, deadline: float | None = None) -> None:
        """Each group times out at the produce deadline; a caller's `deadline` that comes sooner cuts the
        wait there (a timeout that says nothing about Kafka, so it is not marked down)."""
        group = self._group
        if group is None or self._down_since is not None:
            raise PublishError("not_connected", "Kafka producer is not connected")
        try:
            while (outcome := group.send(records)) is None:  # each group times out at the produce deadline
                await group.learn(records)
            if deadline is not None and deadline - outcome.get_loop().time() < self._deadline:
                await self._wait_until(outcome, deadline)
            else:
                await outcome  # this callback's own future: cancelling it (its deadline) touches no other
        except ReplyDeadlineError as exc:
            raise PublishError("timeout", "reply deadline passed before Kafka acknowledged") from exc
        except TimeoutError as exc:
            self._mark_down("timeout", "write: no acknowledgement within the produce deadline")
            raise PublishError("timeout", "Kafka did not acknowledge within the produce deadline") from exc
        except KafkaTimeoutError as exc:
            self._mark_down("timeout", "write: request timed out")
            raise PublishError("timeout", "Kafka request timed out") from exc
        except (KafkaConnectionError, NodeNotReadyError) as exc:
            self._mark_down(cause_of(exc), f"write: {type(exc).__name__}")
            raise PublishError("not_connected", f"Kafka connection failed: {type(exc).__name__}") from exc
        except KafkaError as exc:
            raise PublishError(
                "broker_error",
                f"Kafka refused the write: {type(exc).__name__}",
                retriable=bool(getattr(exc, "retriable", True)),
            ) from exc
        self._last_ok = time.monotonic()

    @staticmethod
    async def _wait_until(outcome: asyncio.Future[None], deadline: float) -> None:
        """The outcome, or ReplyDeadlineError at the loop time `deadline` (only callers whose reply deadline
        is shorter than the produce deadline pay for this timer)."""
        try:
            async with asyncio.timeout_at(deadline) as scope:
                await outcome
        except TimeoutError:
            if scope.expired():
                raise ReplyDeadlineError from None
            raise


class ReplyDeadlineError(Exception):
    """The caller's deadline passed before every record was acknowledged."""


async def _close_quietly(producer: Any) -> None:
    with contextlib.suppress(KafkaError, OSError, TimeoutError, RuntimeError):
        async with asyncio.timeout(5.0):
            await producer.stop()
