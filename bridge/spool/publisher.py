"""A Publisher that answers for Kafka from the durable spool when Kafka cannot, and drains it later.

publish() gives Kafka `spool.budget_seconds` to acknowledge; if it does not, or is known to be
down, the records are committed to the spool and publish() returns (the provider gets its
success reply). While the spool holds anything, new records go behind it, so records with the
same key reach Kafka in the order they arrived. A drainer publishes the spool's oldest records
in batches and deletes them only after Kafka's acknowledgement; what it has not deleted when the
process dies is sent again after a restart (a duplicate with the same event id, never a loss).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Final

from bridge.errors import PublishError
from bridge.kafka.causes import KafkaCause
from bridge.kafka.envelope import KafkaRecord
from bridge.kafka.publisher import Publisher
from bridge.spool.metrics import SpoolMetrics
from bridge.spool.settings import COMMIT_RESERVE_SECONDS
from bridge.spool.store import Spool, SpoolError, SpoolFullError

log = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS: Final = (0.2, 0.5, 1.0, 2.0, 5.0)
WAIT_FOR_KAFKA_SECONDS: Final = 0.2


class SpoolingPublisher:
    """Implements Publisher around a Kafka publisher and a Spool.

    publish() returns once Kafka acknowledged every record or the spool committed them all.
    It raises PublishError when neither happened: Kafka refused with a non-retriable error, or
    the spool is full, failing or unhealthy (then it behaves as the Kafka publisher alone).
    """

    def __init__(self, kafka: Publisher, spool: Spool, metrics: SpoolMetrics) -> None:
        self._kafka = kafka
        self._spool = spool
        self._metrics = metrics
        self._budget = spool.settings.budget_seconds
        self._writing = 0  # appends submitted, not yet committed: they count as "spool not empty"
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self._late: set[asyncio.Task[None]] = set()
        self._stopping = False
        metrics.watch(
            records=lambda: spool.records,
            size=lambda: spool.bytes,
            oldest_age=spool.oldest_age,
            healthy=lambda: spool.healthy,
        )

    @property
    def ready(self) -> bool:
        return self._kafka.ready

    @property
    def cause(self) -> KafkaCause | None:
        return self._kafka.cause

    @property
    def connect_failures(self) -> Mapping[KafkaCause, int]:
        return self._kafka.connect_failures

    @property
    def accepting(self) -> bool:
        """Kafka takes records, or the spool has room: a pod that can store callbacks stays ready."""
        return self._kafka.ready or self._spool.has_room()

    async def start(self) -> None:
        await self._spool.open()
        await self._kafka.start()
        self._drainer = asyncio.create_task(self._drain(), name="spool-drainer")

    async def stop(self) -> None:
        """Drain for up to `stop_drain_seconds` while Kafka is up, then stop; the rest stays on disk."""
        self._stopping = True
        self._wake.set()
        if self._drainer is not None:
            # On timeout wait_for cancels the drainer; unacknowledged records stay in the spool.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drainer, self._spool.settings.stop_drain_seconds)
        await self._kafka.stop()
        await asyncio.sleep(0)  # late acknowledgements' callbacks run
        if self._late:
            await asyncio.wait(self._late, timeout=5.0)
        left = self._spool.records
        await self._spool.close()
        if left:
            log.warning("spool keeps records for the next start", extra={"event": "spool_left", "records": left})

    async def publish(self, records: Sequence[KafkaRecord], *, deadline: float | None = None) -> None:
        """Kafka gets the budget, shortened so that the spool can still answer by `deadline`."""
        spool = self._spool
        if not spool.healthy:
            await self._kafka.publish(records, deadline=deadline)
            return
        budget = self._budget
        if deadline is not None:
            budget = min(budget, deadline - asyncio.get_running_loop().time() - COMMIT_RESERVE_SECONDS)
        if self._writing or spool.records or not self._kafka.ready or budget <= 0:
            await self._store(records, None)
            return
        sending = asyncio.ensure_future(self._kafka.publish(records))
        sending.add_done_callback(_retrieve)  # its error is read even if nobody awaits it any more
        done, _ = await asyncio.wait((sending,), timeout=budget)
        if done:
            error = sending.exception()
            if error is None:
                return
            if not isinstance(error, PublishError) or not error.retriable:
                raise error
            await self._store(records, error)
            return
        seqs = await self._store(records, PublishError("timeout", "Kafka did not acknowledge within the budget"))
        sending.add_done_callback(lambda task: self._late_ack(task, seqs))

    async def _store(self, records: Sequence[KafkaRecord], kafka_error: PublishError | None) -> list[int]:
        self._writing += 1
        try:
            seqs = await self._spool.append(records)
        except SpoolError as error:
            self._metrics.spool_write_failed()
            full = isinstance(error, SpoolFullError)
            raise PublishError(
                "spool_full" if full else "spool_failed",
                f"Kafka did not acknowledge and the spool is {'full' if full else 'failing'}",
            ) from error
        finally:
            self._writing -= 1
        self._metrics.spool_written(len(records))
        self._wake.set()
        return seqs

    def _late_ack(self, sending: asyncio.Future[None], seqs: list[int]) -> None:
        """Kafka acknowledged records after they were spooled: the spool need not send them again."""
        if sending.cancelled() or sending.exception() is not None or not self._spool.healthy:
            return
        task = asyncio.ensure_future(self._forget(seqs))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _forget(self, seqs: list[int]) -> None:
        with contextlib.suppress(SpoolError):
            self._metrics.spool_drained(await self._spool.delete(seqs))

    async def _drain(self) -> None:
        spool, kafka = self._spool, self._kafka
        failures = 0
        draining = False
        first_ack: float | None = None  # the drain's time counts from the first batch Kafka took
        drained = 0
        while spool.healthy:
            if not spool.records:
                if draining:
                    took = round(time.monotonic() - (first_ack or time.monotonic()), 1)
                    log.info("spool drained", extra={"event": "spool_drained", "records": drained, "seconds": took})
                    draining, first_ack, drained = False, None, 0
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if not kafka.ready:
                if self._stopping:
                    return
                await asyncio.sleep(WAIT_FOR_KAFKA_SECONDS)
                continue
            try:
                batch = await spool.head(spool.settings.drain_batch_records)
                if not draining:
                    draining = True
                    log.info("spool draining", extra={"event": "spool_draining", "records": spool.records})
                sent_at = time.monotonic()
                await kafka.publish([item.record for item in batch])
                removed = await spool.delete([item.seq for item in batch])
            except PublishError as error:
                delay = RETRY_BACKOFF_SECONDS[min(failures, len(RETRY_BACKOFF_SECONDS) - 1)]
                failures += 1
                if failures == 1:
                    log.warning(
                        "spool drain failed, retrying", extra={"event": "spool_drain_failed", "reason": error.reason}
                    )
                await asyncio.sleep(delay)
                continue
            except SpoolError:
                continue  # the spool turned unhealthy (logged there); the loop ends
            failures = 0
            first_ack = first_ack or sent_at
            drained += removed
            self._metrics.spool_drained(removed)


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


def _conforms(publisher: SpoolingPublisher) -> Publisher:
    return publisher  # mypy checks that SpoolingPublisher satisfies the protocol
