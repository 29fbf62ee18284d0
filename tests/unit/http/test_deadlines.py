"""One timer for every in-flight callback: each task is cancelled once its deadline passes, and knows it."""

from __future__ import annotations

import asyncio

import pytest

from bridge.http.deadlines import Deadlines

pytestmark = pytest.mark.anyio


async def test_a_task_past_its_deadline_is_cancelled_and_told_so_one_in_time_is_not() -> None:
    deadlines = Deadlines(resolution=0.005)
    loop = asyncio.get_running_loop()
    outcome: dict[str, str] = {}

    async def work(name: str, seconds: float, allowed: float) -> None:
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        deadlines.set(task, loop.time() + allowed)
        try:
            await asyncio.sleep(seconds)
            outcome[name] = "done"
        except asyncio.CancelledError:
            outcome[name] = "deadline" if deadlines.clear(task) else "cancelled"
        finally:
            deadlines.clear(task)

    await asyncio.gather(work("slow", 1.0, 0.03), work("quick", 0.01, 0.5))
    assert outcome == {"slow": "deadline", "quick": "done"}


async def test_a_moved_deadline_counts_and_other_cancellations_are_not_taken_for_it() -> None:
    deadlines = Deadlines(resolution=0.005)
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def moved() -> float:
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        deadlines.set(task, loop.time() + 0.01)
        deadlines.set(task, loop.time() + 0.1)  # the reply's deadline replaces the body's
        try:
            await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            assert deadlines.clear(task)
        return loop.time() - started

    assert 0.09 <= await moved() < 0.5
    other = asyncio.create_task(asyncio.sleep(1.0))
    deadlines.set(other, loop.time() + 10)
    other.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other
    assert deadlines.clear(other) is False
