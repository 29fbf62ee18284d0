"""The spool's file: SQLite settings, schema, the checks on opening, setting a bad file aside,
and records to rows and back. Plain functions on a connection; the thread is store.py's."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from bridge.errors import BridgeError
from bridge.events import EventType
from bridge.kafka.envelope import KafkaRecord

APPLICATION_ID: Final = 0x534D5342  # "SMSB" in the file header: this file is a spool
SCHEMA_VERSION: Final = 1
CORRUPT: Final = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
SCHEMA: Final = """CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, spooled_at REAL NOT NULL, topic TEXT NOT NULL,
    key BLOB NOT NULL, value BLOB NOT NULL, headers TEXT NOT NULL, event_id TEXT NOT NULL,
    event_type TEXT, size INTEGER NOT NULL)"""
INSERT: Final = (
    "INSERT INTO records (spooled_at, topic, key, value, headers, event_id, event_type, size)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
HEAD: Final = (
    "SELECT seq, spooled_at, topic, key, value, headers, event_id, event_type FROM records ORDER BY seq LIMIT ?"
)
DELETE: Final = "DELETE FROM records WHERE seq IN (SELECT value FROM json_each(?)) RETURNING size"
OLDEST: Final = "SELECT spooled_at FROM records ORDER BY seq LIMIT 1"

Row = tuple[str, bytes, bytes, str, str, str | None, int]  # topic ... event_type, size


class SpoolError(BridgeError):
    """The spool could not take or give records; `corrupt` when the file is not usable."""

    def __init__(self, message: str, *, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    seq: int
    spooled_at: float
    record: KafkaRecord


@dataclass
class Totals:
    """What the file holds: record count, their bytes, and when the oldest was spooled."""

    records: int = 0
    bytes: int = 0
    oldest: float | None = None
    deleted: int = 0  # records deleted in the running transaction: the oldest must be looked up


def open_file(path: Path) -> tuple[sqlite3.Connection, Totals]:
    """Open or create a spool file and check it; SpoolError if that fails. A file that is not a
    readable spool of this version is renamed aside first (SpoolError.corrupt)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=1.0, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise SpoolError(f"cannot open {path}: {error_name(exc)}") from exc
    try:
        # One process per file: a second bridge on the same file fails to open it.
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        if db.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise SpoolError(f"{path}: the file system does not support WAL mode")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA journal_size_limit=67108864")
        app_id, version = (db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("application_id", "user_version"))
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and (app_id, version) != (APPLICATION_ID, SCHEMA_VERSION):
            raise SpoolError("not a spool file of this version", corrupt=True)
        if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
            raise SpoolError("integrity check failed", corrupt=True)
        db.execute(SCHEMA)
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        count, size, oldest = db.execute(
            "SELECT count(*), coalesce(sum(size), 0), min(spooled_at) FROM records"
        ).fetchone()
    except (sqlite3.Error, SpoolError) as exc:
        db.close()
        corrupt = exc.corrupt if isinstance(exc, SpoolError) else is_corrupt(exc)
        why = str(exc) if isinstance(exc, SpoolError) else error_name(exc)
        if corrupt:
            raise SpoolError(f"{path} is not a readable spool ({why}); moved to {set_aside(path)}") from exc
        raise SpoolError(f"cannot open {path}: {why}") from exc
    return db, Totals(count, size, oldest)


def set_aside(path: Path) -> str:
    """Rename the file (and its -wal, -shm) to `<name>.corrupt-<UTC time>`; the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            with contextlib.suppress(OSError):
                source.rename(f"{aside}{suffix}")
    return aside.name


def to_row(record: KafkaRecord) -> Row:
    headers = orjson.dumps([[name, value.decode("latin-1")] for name, value in record.headers]).decode()
    event_type = record.event_type.value if record.event_type is not None else None
    size = len(record.key) + len(record.value) + len(headers) + len(record.topic)
    return record.topic, record.key, record.value, headers, record.event_id, event_type, size


def from_row(row: tuple[Any, ...]) -> SpooledRecord:
    seq, spooled_at, topic, key, value, headers, event_id, event_type = row
    try:
        kind: EventType | None = EventType(event_type) if event_type is not None else None
    except ValueError:
        kind = None
    pairs = tuple((str(n), str(v).encode("latin-1")) for n, v in orjson.loads(headers))
    return SpooledRecord(seq, spooled_at, KafkaRecord(topic, bytes(key), bytes(value), pairs, event_id, kind))


def is_corrupt(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in CORRUPT


def error_name(exc: BaseException) -> str:
    return str(getattr(exc, "sqlite_errorname", None) or type(exc).__name__)
