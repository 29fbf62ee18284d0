"""The spool on a real SQLite file: order, durability, bounds, group commit, damaged files."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bridge.events import EventType
from bridge.kafka.envelope import KafkaRecord
from bridge.spool.store import Spool, SpoolError, SpoolFullError, SpoolSettings

pytestmark = pytest.mark.anyio


def record(n: int, key: str = "k", size: int = 100) -> KafkaRecord:
    return KafkaRecord(
        topic="sms.delivery-receipts",
        key=key.encode(),
        value=(b'{"n":%d,"pad":"' % n).ljust(size, b"x") + b'"}',
        headers=(("content-type", b"application/cloudevents+json; charset=utf-8"), ("bin", bytes(range(256)))),
        event_id=f"id-{n}",
        event_type=EventType.DELIVERY_RECEIPT,
    )


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "spool.db"


async def opened(path: Path, clock: Clock | None = None, **limits: float) -> Spool:
    spool = Spool(SpoolSettings.model_validate({"path": str(path), **limits}), clock or Clock())
    await spool.open()
    return spool


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def damage_pages(path: Path, first: int, last: int, page: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(first * page, min(len(data), last * page)):
        data[offset] = 0xA5
    path.write_bytes(bytes(data))


def asides(path: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(path.parent.glob(path.name + ".corrupt-*"))]


@pytest.fixture
def long_switch_interval() -> Iterator[None]:
    """The writer thread waits for the GIL until the event loop blocks, so jobs queue up."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    yield
    sys.setswitchinterval(before)


async def test_records_come_back_oldest_first_and_byte_for_byte(path: Path) -> None:
    spool = await opened(path)
    sent = [record(i, key=f"k{i % 3}") for i in range(10)]
    first = await spool.append(sent[:4])
    second = await spool.append(sent[4:])
    assert first + second == sorted(first + second)
    back = await spool.head(100)
    assert [item.record for item in back] == sent
    assert [item.seq for item in back] == first + second
    assert spool.records == 10 and spool.bytes > 10 * 100
    await spool.close()


async def test_records_survive_closing_and_opening_again(path: Path) -> None:
    spool = await opened(path)
    await spool.append([record(1), record(2)])
    await spool.close()
    again = await opened(path)
    assert again.healthy and again.records == 2
    assert [item.record for item in await again.head(10)] == [record(1), record(2)]
    await again.close()


async def test_delete_removes_only_the_given_records_and_updates_the_totals(path: Path) -> None:
    clock = Clock()
    spool = await opened(path, clock)
    a = await spool.append([record(1)])
    clock.now += 10
    b = await spool.append([record(2), record(3)])
    clock.now += 5
    assert spool.oldest_age() == 15
    assert await spool.delete(a) == 1
    assert spool.oldest_age() == 5
    assert await spool.delete(a) == 0  # already gone: nothing counted twice
    assert [item.record for item in await spool.head(10)] == [record(2), record(3)]
    assert await spool.delete(b) == 2
    assert (spool.records, spool.bytes, spool.oldest_age()) == (0, 0, 0.0)
    await spool.close()


async def test_a_full_spool_refuses_the_whole_callback_and_takes_records_again_after_a_delete(path: Path) -> None:
    spool = await opened(path, max_bytes=64 * 1024)
    stored: list[int] = []
    with pytest.raises(SpoolFullError, match="bytes"):
        for i in range(1000):
            stored += await spool.append([record(i, size=1000)])
    count = spool.records
    assert count == len(stored) > 10
    assert spool.bytes > 60 * 1024
    with pytest.raises(SpoolFullError):
        await spool.append([record(0, size=100), record(1, size=60 * 1024)])
    assert spool.records == count  # nothing of the refused callback was stored
    await spool.delete(stored[:5])
    assert await spool.append([record(9999, size=1000)])
    await spool.close()


async def test_records_older_than_max_age_make_the_spool_refuse_new_ones(path: Path) -> None:
    clock = Clock()
    spool = await opened(path, clock, max_age_seconds=60)
    old = await spool.append([record(1)])
    clock.now += 59
    assert spool.has_room()
    await spool.append([record(2)])
    clock.now += 1
    assert not spool.has_room()
    with pytest.raises(SpoolFullError, match="older than"):
        await spool.append([record(3)])
    await spool.delete(old)
    assert spool.has_room()
    await spool.append([record(3)])
    await spool.close()


@pytest.mark.usefixtures("long_switch_interval")
async def test_concurrent_appends_share_commits(path: Path) -> None:
    spool = await opened(path)
    commits = 0
    original = spool._process

    def counting(batch):  # type: ignore[no-untyped-def]
        nonlocal commits
        commits += 1
        original(batch)

    spool._process = counting  # type: ignore[method-assign]
    results = await asyncio.gather(*(spool.append([record(i)]) for i in range(50)))
    assert sorted(s for seqs in results for s in seqs) == [s for seqs in results for s in seqs]
    assert spool.records == 50
    assert commits < 50
    await spool.close()


async def test_a_file_that_is_not_a_database_is_set_aside_and_the_spool_is_unhealthy(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"this is not a database" * 1000
    write(path, garbage)
    with caplog.at_level(logging.ERROR, logger="bridge.spool.store"):
        spool = await opened(path)
    assert not spool.healthy and not spool.has_room()
    assert asides(path) == [garbage]
    assert not await asyncio.to_thread(path.exists)
    assert any(getattr(r, "event", None) == "spool_unavailable" for r in caplog.records)
    with pytest.raises(SpoolError, match="unavailable"):
        await spool.append([record(1)])
    await spool.close()


async def test_a_damaged_page_fails_the_integrity_check_and_is_set_aside(path: Path) -> None:
    spool = await opened(path)
    for i in range(50):
        await spool.append([record(i, size=2000)])
    await spool.close()
    damage_pages(path, 2, 6)  # table pages overwritten; the header (page 1) stays valid
    again = await opened(path)
    assert not again.healthy
    assert "not a readable spool" in (again.problem or "")
    assert len(asides(path)) == 1
    await again.close()


async def test_another_sqlite_database_at_the_path_is_set_aside_not_used(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE payroll (name TEXT)")
    other.close()
    spool = await opened(path)
    assert not spool.healthy and "not a spool file" in (spool.problem or "")
    assert len(asides(path)) == 1
    await spool.close()


async def test_a_second_spool_on_the_same_file_is_refused_and_the_file_left_alone(path: Path) -> None:
    first = await opened(path)
    await first.append([record(1)])
    second = await opened(path)
    assert not second.healthy and "SQLITE_BUSY" in (second.problem or "")
    assert not asides(path)
    assert [item.record for item in await first.head(10)] == [record(1)]
    await second.close()
    await first.close()


async def test_a_path_that_cannot_be_created_leaves_the_spool_unhealthy_without_raising(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    spool = await opened(tmp_path / "file" / "spool.db")
    assert not spool.healthy and "cannot open" in (spool.problem or "")
    await spool.close()


def test_spool_settings_reject_unknown_keys_and_need_a_path() -> None:
    with pytest.raises(ValueError, match="path"):
        SpoolSettings.model_validate({})
    with pytest.raises(ValueError, match="extra"):
        SpoolSettings.model_validate({"path": "/x", "max_size": 1})


def test_the_example_configuration_documents_every_spool_key_with_a_valid_value() -> None:
    text = (Path(__file__).parents[3] / "config" / "bridge.example.yaml").read_text("utf-8")
    block = text.split("\n# spool:\n", 1)[1]
    lines = [line.removeprefix("# ") for line in block.splitlines() if line.startswith("#   ")]
    documented = yaml.safe_load("\n".join(lines))
    assert set(documented) == set(SpoolSettings.model_fields)
    assert SpoolSettings.model_validate(documented) == SpoolSettings(path=documented["path"])  # the defaults
