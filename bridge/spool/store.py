"""The durable spool: Kafka records kept in one SQLite file, oldest first, until Kafka has them.

One dedicated thread owns the database; the event loop only queues jobs and awaits their
futures, so disk I/O never blocks it. Jobs that queue up while a commit is running share the
next transaction (group commit): one fsync for many callbacks. WAL mode, `synchronous=FULL`:
a record is on disk before append() returns. A file that is not a readable spool is renamed
aside (`<path>.corrupt-<UTC time>`), never deleted, and the spool turns unhealthy. The file
format is file.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from bridge.kafka.envelope import KafkaRecord
from bridge.spool.file import (
    DELETE,
    HEAD,
    INSERT,
    OLDEST,
    SpooledRecord,
    SpoolError,
    Totals,
    error_name,
    from_row,
    is_corrupt,
    open_file,
    set_aside,
    to_row,
)
from bridge.spool.settings import SpoolSettings

__all__ = ["Spool", "SpoolError", "SpoolFullError", "SpoolSettings", "SpooledRecord"]

log = logging.getLogger(__name__)

MAX_JOBS_PER_COMMIT: Final = 512
ROOM_FOR_A_CALLBACK: Final = 64 * 1024  # has_room() keeps this much free (up to a quarter of max_bytes)


class SpoolFullError(SpoolError):
    """The spool holds `max_bytes`, or its oldest record is older than `max_age_seconds`."""


@dataclass
class _Job:
    op: Literal["append", "delete", "head"]
    arg: Any
    future: asyncio.Future[Any]


class Spool:
    """A FIFO of records on disk. open() never raises: a spool that cannot open is unhealthy."""

    def __init__(self, settings: SpoolSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.path = Path(settings.path)
        self._clock = clock
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._db: sqlite3.Connection | None = None
        self._totals = Totals()
        self.healthy = False
        self.problem: str | None = None
        self._closed = False

    # --- the event loop's side -------------------------------------------------------------

    @property
    def records(self) -> int:
        return self._totals.records

    @property
    def bytes(self) -> int:
        return self._totals.bytes

    def oldest_age(self) -> float:
        oldest = self._totals.oldest
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)

    def has_room(self) -> bool:
        """Healthy, room for another callback, and the oldest record younger than max_age_seconds."""
        limits = self.settings
        room = min(ROOM_FOR_A_CALLBACK, limits.max_bytes // 4)
        return self.healthy and self.bytes + room <= limits.max_bytes and self.oldest_age() < limits.max_age_seconds

    async def open(self) -> None:
        """Open (or create) the file and start the writer thread; on failure log why and stay unhealthy."""
        self._loop = asyncio.get_running_loop()
        try:
            self._db, self._totals = await asyncio.to_thread(open_file, self.path)
        except SpoolError as error:
            self.problem = str(error)
            log.error(
                "spool unavailable, serving without it",
                extra={"event": "spool_unavailable", "detail": str(error)},
            )
            return
        self.healthy = True
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()
        log.info("spool open", extra={"event": "spool_open", "records": self.records, "bytes": self.bytes})

    async def close(self) -> None:
        """Finish the queued jobs, then close the file."""
        self._closed = True
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join, 10.0)
            self._thread = None

    async def append(self, records: Sequence[KafkaRecord]) -> list[int]:
        """Store the records durably, in order; their sequence numbers. SpoolFullError, SpoolError."""
        return list(await self._submit("append", records))

    async def head(self, limit: int) -> list[SpooledRecord]:
        """The oldest `limit` records, oldest first."""
        return list(await self._submit("head", limit))

    async def delete(self, seqs: Sequence[int]) -> int:
        """Remove records (Kafka has them); how many were still there."""
        return int(await self._submit("delete", list(seqs)))

    async def _submit(self, op: Literal["append", "delete", "head"], arg: Any) -> Any:
        if not self.healthy or self._loop is None or self._closed:
            raise SpoolError(f"spool unavailable: {self.problem or 'not open'}")
        job = _Job(op, arg, self._loop.create_future())
        self._jobs.put(job)
        return await job.future

    # --- the writer thread's side ------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._jobs.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < MAX_JOBS_PER_COMMIT:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._process(batch)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()

    def _process(self, batch: list[_Job]) -> None:
        db = self._db
        if db is None or not self.healthy:
            self._fail(batch, SpoolError(f"spool unavailable: {self.problem}"))
            return
        results: list[tuple[_Job, Any]] = []
        totals = self._totals
        try:
            for job in (j for j in batch if j.op == "head"):
                results.append((job, self._head(db, job.arg)))
            writes = [j for j in batch if j.op != "head"]
            if writes:
                pending = Totals(totals.records, totals.bytes, totals.oldest)
                db.execute("BEGIN IMMEDIATE")
                for job in writes:
                    results.append((job, self._write(db, job, pending)))
                db.execute("COMMIT")
                if pending.records and pending.deleted:
                    pending.oldest = db.execute(OLDEST).fetchone()[0]
                self._totals = Totals(pending.records, pending.bytes, pending.oldest if pending.records else None)
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if is_corrupt(exc):
                self._turn_unhealthy(f"spool file damaged ({error_name(exc)})")
            self._fail(batch, SpoolError(f"spool write failed: {error_name(exc)}", corrupt=is_corrupt(exc)))
            return
        for job, result in results:
            self._resolve(job, result)

    def _write(self, db: sqlite3.Connection, job: _Job, pending: Totals) -> Any:
        if job.op == "delete":
            seqs: list[int] = job.arg
            sizes = [row[0] for row in db.execute(DELETE, (orjson.dumps(seqs).decode(),))]
            pending.records -= len(sizes)
            pending.deleted += len(sizes)
            pending.bytes -= sum(sizes)
            return len(sizes)
        records: Sequence[KafkaRecord] = job.arg
        rows = [to_row(r) for r in records]
        size = sum(row[-1] for row in rows)
        now = self._clock()
        if pending.bytes + size > self.settings.max_bytes:
            return SpoolFullError(f"spool holds {pending.bytes} of {self.settings.max_bytes} bytes")
        if pending.oldest is not None and now - pending.oldest >= self.settings.max_age_seconds:
            return SpoolFullError(f"oldest spooled record is older than {self.settings.max_age_seconds} s")
        seqs = [int(db.execute(INSERT, (now, *row)).lastrowid or 0) for row in rows]
        pending.records += len(rows)
        pending.bytes += size
        pending.oldest = now if pending.oldest is None else pending.oldest
        return seqs

    def _head(self, db: sqlite3.Connection, limit: int) -> list[SpooledRecord]:
        return [from_row(row) for row in db.execute(HEAD, (limit,)).fetchall()]

    def _turn_unhealthy(self, problem: str) -> None:
        self.healthy = False
        self.problem = problem
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        aside = set_aside(self.path)
        log.error(
            "spool damaged, serving without it",
            extra={"event": "spool_unavailable", "detail": f"{problem}; moved to {aside}", "records": self.records},
        )

    def _resolve(self, job: _Job, result: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_settle, job.future, result)

    def _fail(self, batch: list[_Job], error: SpoolError) -> None:
        for job in batch:
            self._resolve(job, error)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.cancelled():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


