"""The CPU budget per stage: the bridge's real code driven in process, without HTTP sockets.

    .venv/bin/python -m tests.bench.stages                      # 5 repeats, c=64, the three corpora
    .venv/bin/python -m tests.bench.stages --repeats 7 --json out.json

What it does (one process, the embedded Tansu broker as a child process on a free loopback port):
builds the bridge exactly as `bridge serve` does (`bridge.cli.serve.build_app`, the benchmark's
configuration: the tests' NxCloud and Tencent instances plus a Twilio one, acks=all, JSON
logging to /dev/null so the accepted-callback line is rendered and written as in production),
runs its lifespan, and drives its ASGI app on uvloop with the benchmark's corpora (NxCloud `dr`,
one record, every signature and recipient distinct; Tencent arrays of 5 reports, 200 cycled;
Twilio status forms, 1,000 cycled), one task per callback as uvicorn makes one, `--concurrency`
callbacks in flight. Every answer must be 2xx and Kafka acknowledges every record (acks=all),
as in the benchmark.

Two bridges run side by side, every repeat interleaved so that a noisy phase of the shared
machine hits both:

* **whole**: the plain bridge; CPU of the process (`time.process_time_ns`, so waiting for the
  broker and other jobs' CPU do not count) per callback. The driver's own cost (a scope, a task,
  receive/send per callback: what uvicorn does instead) is measured with a null ASGI app and
  subtracted.
* **stages**: a second bridge whose functions (bridge code, Starlette's entry, aiokafka's send
  path and its background sender/reader coroutines) are wrapped at run time: each wrapper takes
  `perf_counter_ns` on entry and exit and charges the time, minus its children's, to its stage
  (coroutines: each resumption is timed, so waiting is never charged). The wrappers' own cost
  is calibrated at start (per entry, on the stage and on its parent) and subtracted. Nothing
  in `bridge/` is modified.

Whatever is not inside a wrapped function (uvloop's own C work: epoll, the ready queue, task
steps and future callbacks; asyncio stream callbacks of aiokafka's connection) is the row
"event loop and unattributed" = instrumented total - sum of stages; the check printed is
(sum of stages + that row, overhead-corrected) against the plain bridge's whole: within 10 %
means the correction holds and the stage figures add up to what the bridge costs.

The HTTP stack outside the app (uvicorn's protocol, httptools, socket reads and writes) is not
in this process: its figure comes from ceiling A (the benchmark's ceiling runs; `--http-us`
sets it, default the README's last measured ceiling A in-process/out-of-process split), and the
in-process part of ceiling A (Starlette + orjson/parse_qsl + the reply) is measured here by
driving `tests.bench.apps.ceiling_app` the same way.

Medians of `--repeats` repeats are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import time
import types
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import yaml

from bridge.cli.dev_broker import EmbeddedBroker
from bridge.config import Settings, parse
from tests.bench.corpora import (
    KINDS,
    RECORDS_PER_CALLBACK,
    TWILIO_INSTANCE,
    nxcloud_corpus,
    tencent_corpus,
    twilio_corpus,
)
from tests.conftest import NX_ACCESS_KEY, NX_SECRET, TENCENT_TOKEN, TOPICS, config_dict

# uvicorn + httptools + socket work per request at c=64 that ceiling A pays outside the ASGI app:
# ceiling A's CPU per request (58 µs, README Performance, session 20261202T023938Z) minus its
# in-process Starlette part (~26 µs, /work/shared/research/perf-baseline.md). Override with --http-us.
DEFAULT_HTTP_OUTSIDE_US: Final = 32.0

# Stage names, in the order of the list; the table prints them in this order.
STAGES: Final = (
    "http (in app)",
    "intake",
    "glue (endpoint, pipeline, adapter)",
    "shared checks",
    "replay cache",
    "verification",
    "parsing",
    "phone numbers",
    "event ids",
    "envelope",
    "publisher + group commit",
    "aiokafka append/send",
    "aiokafka sender + ack",
    "metrics",
    "log line",
    "deadlines",
)


# --- the stage clock ---------------------------------------------------------------------------------


@dataclass
class Clock:
    """Exclusive time per stage: a stack of [stage, start, children] frames within one loop step."""

    enabled: bool = False
    exclusive: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    entries: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))  # (stage, how)
    child_entries: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))  # (parent, how)
    stack: list[list[Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.dropped.clear()
        self.exclusive.clear()
        self.entries.clear()
        self.child_entries.clear()

    now: Callable[[], int] = time.perf_counter_ns
    limit: int = 1_000_000  # ns: an interval longer than this was preempted (a time slice), not work
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def enter(self, stage: str) -> None:
        self.stack.append([stage, self.now(), 0])

    def leave(self, how: str) -> None:
        end = self.now()
        stage, start, children = self.stack.pop()
        spent = end - start
        self.entries[stage, how] += 1
        stack = self.stack
        if stack:
            stack[-1][2] += spent  # the parent never pays for its children, preempted or not
            self.child_entries[stack[-1][0], how] += 1
        else:
            self.child_entries["<root>", how] += 1
        if spent - children > self.limit:
            self.dropped[stage] += 1  # the other side of a time slice: estimated from the stage's other entries
        else:
            self.exclusive[stage] += spent - children


CLOCK: Final = Clock()


def timed_sync(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
    clock = CLOCK

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not clock.enabled:
            return fn(*args, **kwargs)
        clock.enter(stage)
        try:
            return fn(*args, **kwargs)
        finally:
            clock.leave("sync")

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


@types.coroutine
def _drive(coro: Any, stage: str) -> Generator[Any, Any, Any]:
    """Await `coro`, timing each of its resumptions (never the time it waits)."""
    clock = CLOCK
    value: Any = None
    error: BaseException | None = None
    while True:
        on = clock.enabled
        if on:
            clock.enter(stage)
        try:
            if error is not None:
                thrown, error = error, None
                out = coro.throw(thrown)
            else:
                out = coro.send(value)
        except StopIteration as stop:
            if on:
                clock.leave("async")
            return stop.value
        except BaseException:
            if on:
                clock.leave("async")
            raise
        if on:
            clock.leave("async")
        try:
            value = yield out
        except BaseException as exc:
            value, error = None, exc


def timed_async(fn: Callable[..., Awaitable[Any]], stage: str) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return await _drive(fn(*args, **kwargs), stage)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


@dataclass
class Patches:
    """Run-time wrappers (installed and removed per repeat) and the ones kept for good (background
    coroutines whose tasks start with the instrumented bridge's producer)."""

    undo: list[tuple[Any, str, Any]] = field(default_factory=list)

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        inherited = isinstance(owner, type) and name not in owner.__dict__
        original = getattr(owner, name) if inherited or not isinstance(owner, type) else owner.__dict__[name]
        if isinstance(original, property):
            assert original.fget is not None
            new: Any = property(timed_sync(original.fget, stage))
        elif isinstance(original, staticmethod):
            fn = original.__func__
            new = staticmethod(timed_async(fn, stage) if asyncio.iscoroutinefunction(fn) else timed_sync(fn, stage))
        elif asyncio.iscoroutinefunction(original):
            new = timed_async(original, stage)
        else:
            new = timed_sync(original, stage)
        targets: list[Any] = [owner]
        if not isinstance(owner, type):  # a module function: every module that imported it by name
            targets = [m for m in list(sys.modules.values()) if m is not None and getattr(m, name, None) is original]
        for target in targets:
            self.undo.append((target, name, None if inherited else original))
            setattr(target, name, new)

    def remove(self) -> None:
        while self.undo:
            target, name, original = self.undo.pop()
            if original is None:
                delattr(target, name)
            else:
                setattr(target, name, original)


def install(patches: Patches) -> None:
    """Wrap every stage's functions (modules imported here so the names resolve)."""
    import aiokafka.conn  # type: ignore[import-untyped]
    import aiokafka.producer.message_accumulator as accumulator  # type: ignore[import-untyped]
    import aiokafka.producer.producer  # type: ignore[import-untyped]
    import aiokafka.producer.sender as sender  # type: ignore[import-untyped]
    import starlette.applications

    import bridge.events as events
    import bridge.http.endpoint as endpoint
    import bridge.http.intake as intake
    import bridge.kafka.envelope as envelope
    import bridge.kafka.group_commit as group_commit
    import bridge.phones as phones
    from bridge.http.accepted_log import AcceptedLog
    from bridge.http.deadlines import Deadlines
    from bridge.http.guard import Guard
    from bridge.http.replay_cache import ReplayCache
    from bridge.kafka.publisher import KafkaPublisher
    from bridge.metrics import BridgeMetrics
    from bridge.providers.nxcloud import NxCloudProvider
    from bridge.providers.tencent import TencentProvider
    from bridge.providers.twilio import TwilioProvider

    w = patches.wrap
    w(starlette.applications.Starlette, "__call__", "http (in app)")
    for name in ("headers_of", "request_id", "read_body", "send_reply"):
        w(intake, name, "http (in app)")
    w(intake.Intake, "read", "intake")
    # Only entry points get a wrapper: a function called from one of the same stage adds nothing
    # but overhead (Pipeline.handle, _store, _publish and the adapter's forwarding run inside
    # CallbackEndpoint.__call__, GroupCommit.send inside KafkaPublisher.publish, event_id inside .id).
    w(endpoint.CallbackEndpoint, "__call__", "glue (endpoint, pipeline, adapter)")
    w(envelope, "valid_traceparent", "glue (endpoint, pipeline, adapter)")
    w(Guard, "admit", "shared checks")
    w(Guard, "check", "shared checks")
    w(ReplayCache, "reserve", "replay cache")
    for kind in (NxCloudProvider, TwilioProvider):
        w(kind, "verify", "verification")
        w(kind, "parse", "parsing")
    w(TencentProvider, "verify", "verification")
    w(TencentProvider, "parse", "parsing")
    w(phones, "phone", "phone numbers")
    for cls in (events.DeliveryReceipt, events.InboundMessage):
        w(cls, "id", "event ids")
    w(envelope.Envelope, "to_record", "envelope")
    w(KafkaPublisher, "publish", "publisher + group commit")
    w(group_commit.GroupCommit, "_write", "publisher + group commit")
    w(group_commit, "_settle", "publisher + group commit")
    w(group_commit.GroupCommit, "_batches", "aiokafka append/send")
    w(aiokafka.producer.producer.AIOKafkaProducer, "send_batch", "aiokafka append/send")
    w(aiokafka.producer.producer.AIOKafkaProducer, "create_batch", "aiokafka append/send")
    w(accumulator.MessageBatch, "done", "aiokafka sender + ack")
    w(sender.SendProduceReqHandler, "handle_response", "aiokafka sender + ack")
    w(sender.SendProduceReqHandler, "create_request", "aiokafka sender + ack")
    w(aiokafka.conn.AIOKafkaConnection, "send", "aiokafka sender + ack")
    w(aiokafka.conn.AIOKafkaConnection, "_handle_frame", "aiokafka sender + ack")
    for name in ("callback_done", "event_published", "publish_done"):
        w(BridgeMetrics, name, "metrics")
    w(AcceptedLog, "write", "log line")
    w(AcceptedLog, "flush", "log line")
    w(endpoint, "masked_parties", "log line")
    w(endpoint.CallbackEndpoint, "_fields", "log line")
    for name in ("set", "clear", "_check"):
        w(Deadlines, name, "deadlines")


def install_background(patches: Patches) -> None:
    """aiokafka's long-lived coroutines (the sender routine, each produce request, the connection's
    reader): wrapped before the instrumented bridge's producer starts, and left so."""
    import aiokafka.conn
    import aiokafka.producer.sender as sender

    patches.wrap(sender.Sender, "_sender_routine", "aiokafka sender + ack")
    patches.wrap(sender.Sender, "_send_produce_req", "aiokafka sender + ack")
    patches.wrap(sender.SendProduceReqHandler, "do", "aiokafka sender + ack")
    patches.wrap(aiokafka.conn.AIOKafkaConnection, "_read", "aiokafka sender + ack")


def calibrate(samples: int = 200, chunks: int = 400) -> dict[str, tuple[float, float]]:
    """Wrapper cost per entry in ns, (charged to the stage itself, charged to its parent), for sync
    calls and coroutine resumptions: the wrapped loop's time minus the bare loop's is the whole
    overhead; what the child stage shows beyond the bare work is its own share, the rest its parent's."""
    clock = CLOCK

    def nothing() -> None:
        return None

    @types.coroutine
    def suspends() -> Generator[None, None, None]:
        yield None
        yield None

    async def coro() -> None:
        await suspends()

    def run(how: str, wrapped: bool) -> int:
        call: Callable[..., Any] = (timed_sync(nothing, "child") if how == "sync" else timed_async(coro, "child")) \
            if wrapped else (nothing if how == "sync" else coro)
        start = clock.now()
        for _ in range(samples):
            if how == "sync":
                call()
            else:
                c = call()
                with contextlib.suppress(StopIteration):
                    while True:
                        c.send(None)
        return clock.now() - start

    results: dict[str, tuple[float, float]] = {}
    for how in ("sync", "async"):
        bares: list[int] = []
        wraps: list[int] = []
        childs: list[int] = []
        for _ in range(chunks):  # short chunks, minimum of each: a preempted chunk never wins
            bares.append(run(how, wrapped=False))
            clock.reset()
            clock.enabled = True
            clock.enter("parent")
            wraps.append(run(how, wrapped=True))
            clock.leave("sync")
            clock.enabled = False
            childs.append(clock.exclusive["child"])
        total = (min(wraps) - min(bares)) / samples
        own = max(0.0, (min(childs) - min(bares)) / samples)
        results[how] = (own, max(0.0, total - own))
    clock.reset()
    return results


# --- the driver ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


def as_request(raw: bytes) -> Request:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    target = urlsplit(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
    return Request(target.path, target.query.encode("latin-1"), headers, body)


async def drive(app: Callable[..., Coroutine[Any, Any, None]], requests: Sequence[Request], count: int,
                concurrency: int, statuses: dict[int, int]) -> None:
    """`count` callbacks through `app`, `concurrency` in flight, one task each (as uvicorn runs them)."""
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    state = {"next": 0, "done": 0}

    def start() -> None:
        index = state["next"]
        state["next"] = index + 1
        request = requests[index % len(requests)]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": request.path, "raw_path": request.path.encode(),
            "query_string": request.query, "root_path": "", "headers": request.headers,
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080), "state": {},
        }
        sent = [False]

        async def receive() -> dict[str, Any]:
            if sent[0]:
                await loop.create_future()  # never: the app reads the body once
            sent[0] = True
            return {"type": "http.request", "body": request.body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        loop.create_task(app(scope, receive, send)).add_done_callback(done)

    def done(task: asyncio.Task[None]) -> None:
        if task.exception() is not None and not finished.done():
            finished.set_exception(task.exception())  # type: ignore[arg-type]
            return
        state["done"] += 1
        if state["next"] < count:
            start()
        elif state["done"] == count and not finished.done():
            finished.set_result(None)

    for _ in range(min(concurrency, count)):
        start()
    await finished


async def null_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"7")]})
    await send({"type": "http.response.body", "body": b"success"})


# --- the session ---------------------------------------------------------------------------------------


def bench_settings(bootstrap: str) -> Settings:
    document = config_dict(bootstrap)
    for provider in document["providers"]:
        if provider["kind"] == "nxcloud":
            provider["timestamp_tolerance_seconds"] = 3600
    document["providers"].append(dict(TWILIO_INSTANCE))
    return parse(yaml.safe_dump(document), {})


@dataclass
class Corpora:
    settings: Settings
    per_run: dict[str, int]
    _nx_first: int = 0

    def __post_init__(self) -> None:
        self.tencent = [as_request(r) for r in tencent_corpus(200, "stages", TENCENT_TOKEN)]
        self.twilio = [as_request(r) for r in twilio_corpus(1000, "stages", self.settings)]

    def get(self, kind: str) -> list[Request]:
        if kind == "nxcloud":  # distinct signatures and recipients every run: no replay, no cached number
            count = self.per_run[kind]
            raw = nxcloud_corpus(count, f"st{os.getpid() % 10000}", NX_ACCESS_KEY, NX_SECRET, first=self._nx_first)
            self._nx_first += count
            return [as_request(r) for r in raw]
        return self.tencent if kind == "tencent" else self.twilio


async def measure(app: Any, requests: Sequence[Request], count: int, concurrency: int) -> tuple[float, dict[int, int]]:
    """CPU µs per callback of the whole process while `count` callbacks go through `app`."""
    statuses: dict[int, int] = {}
    gc.collect()
    start = time.process_time_ns()
    await drive(app, requests, count, concurrency, statuses)
    return (time.process_time_ns() - start) / 1000 / count, statuses


async def session(options: argparse.Namespace) -> dict[str, Any]:
    from bridge.cli.serve import build_app, tune_gc
    from tests.bench.apps import ceiling_app

    overhead = calibrate()
    broker = EmbeddedBroker().start()
    try:
        broker.create_topics(TOPICS)
        settings = bench_settings(broker.bootstrap)
        plain, _ = build_app(settings, encoding_tracing() if options.otel else None)
        keep = Patches()
        install_background(keep)
        instrumented, _ = build_app(settings)
        ceiling = ceiling_app()
        corpora = Corpora(settings, {k: options.callbacks for k in KINDS})
        async with contextlib.AsyncExitStack() as stack:
            for app in (plain, instrumented):
                await stack.enter_async_context(app.router.lifespan_context(app))
            await asyncio.sleep(0.5)
            tune_gc()  # as `bridge serve` does
            result: dict[str, Any] = {"overhead_ns": overhead, "kinds": {}}
            for kind in KINDS:
                result["kinds"][kind] = await measure_kind(kind, options, corpora, plain, instrumented, ceiling)
        return result
    finally:
        broker.stop()


async def measure_kind(kind: str, options: argparse.Namespace, corpora: Corpora, plain: Any, instrumented: Any,
                       ceiling: Any) -> dict[str, Any]:
    count = options.callbacks if kind != "tencent" else max(200, options.callbacks // 3)
    patches = Patches()
    wholes: list[float] = []
    nulls: list[float] = []
    ceilings: list[float] = []
    totals: list[float] = []
    stage_runs: list[dict[str, float]] = []
    entries_runs: list[dict[str, float]] = []
    dropped_runs: list[float] = []
    errors = 0
    # warm-up (connections, caches of the cycled corpora, first-time labels)
    for app in (plain, instrumented):
        _, statuses = await measure(app, corpora.get(kind), min(count, 500), options.concurrency)
    for _ in range(options.repeats):
        us, statuses = await measure(null_app, corpora.get(kind), count, options.concurrency)
        nulls.append(us)
        us, statuses = await measure(ceiling, corpora.get(kind), count, options.concurrency)
        ceilings.append(us)
        us, statuses = await measure(plain, corpora.get(kind), count, options.concurrency)
        errors += sum(n for s, n in statuses.items() if s >= 300)
        wholes.append(us)
        install(patches)
        CLOCK.reset()
        CLOCK.enabled = True
        try:
            us, statuses = await measure(instrumented, corpora.get(kind), count, options.concurrency)
        finally:
            CLOCK.enabled = False
            patches.remove()
        errors += sum(n for s, n in statuses.items() if s >= 300)
        totals.append(us)
        kept = {s: sum(n for (t, _), n in CLOCK.entries.items() if t == s) for s in CLOCK.exclusive}
        stage_runs.append({s: ns / 1000 / count * kept[s] / max(1, kept[s] - CLOCK.dropped[s])
                           for s, ns in CLOCK.exclusive.items()})
        dropped_runs.append(sum(CLOCK.dropped.values()) / count)
        entries_runs.append({f"{s}|{h}": n / count for (s, h), n in CLOCK.entries.items()}
                            | {f"child:{s}|{h}": n / count for (s, h), n in CLOCK.child_entries.items()})
    return {
        "callbacks_per_run": count, "records_per_callback": RECORDS_PER_CALLBACK[kind], "errors": errors,
        "whole": wholes, "null_driver": nulls, "ceiling_in_app": ceilings, "instrumented_total": totals,
        "stages": stage_runs, "entries": entries_runs, "preempted_entries_per_callback": dropped_runs,
    }


# --- the table ---------------------------------------------------------------------------------------------


def corrected(kind_result: dict[str, Any], overhead: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Medians per stage, wrapper overhead removed; the check against the plain bridge's whole."""
    med = statistics.median
    per_run_stages: list[dict[str, float]] = []
    per_run_loop: list[float] = []
    for stages, entries, total, null in zip(kind_result["stages"], kind_result["entries"],
                                            kind_result["instrumented_total"], kind_result["null_driver"],
                                            strict=True):
        fixed: dict[str, float] = {}
        total_overhead = 0.0
        for stage in STAGES:
            cost = stages.get(stage, 0.0)
            for how in ("sync", "async"):
                own, parent = overhead[how]
                cost -= entries.get(f"{stage}|{how}", 0.0) * own / 1000
                cost -= entries.get(f"child:{stage}|{how}", 0.0) * parent / 1000
                total_overhead += entries.get(f"{stage}|{how}", 0.0) * (own + parent) / 1000
            fixed[stage] = max(0.0, cost)
        per_run_stages.append(fixed)
        per_run_loop.append(total - total_overhead - null - sum(fixed.values()))
    stages = {s: med([r[s] for r in per_run_stages]) for s in STAGES}
    null = med(kind_result["null_driver"])
    whole = med(kind_result["whole"]) - null
    loop = med(per_run_loop)
    return {
        "stages": stages, "loop": loop, "whole": whole, "null": null,
        "ceiling_in_app": med(kind_result["ceiling_in_app"]) - null,
        "instrumented": med(kind_result["instrumented_total"]) - null,
        "sum": sum(stages.values()) + loop,
    }


def table(result: dict[str, Any], http_outside: float) -> str:
    overhead = result["overhead_ns"]
    rows = {k: corrected(v, overhead) for k, v in result["kinds"].items()}
    head = "| stage (µs CPU per callback) | " + " | ".join(
        f"{k} ({RECORDS_PER_CALLBACK[k]} rec)" for k in rows) + " |"
    out = [head, "|---|" + "---:|" * len(rows)]

    def line(name: str, values: Sequence[float], bold: bool = False) -> None:
        cells = " | ".join(f"**{v:.1f}**" if bold else f"{v:.1f}" for v in values)
        out.append(f"| {name} | {cells} |")

    line("HTTP outside the app: uvicorn + httptools + sockets (ceiling A's, not measured here; --http-us)",
         [http_outside] * len(rows))
    for stage in STAGES:
        line(stage, [r["stages"][stage] for r in rows.values()])
    line("event loop and unattributed (instrumented total - stages)", [r["loop"] for r in rows.values()])
    line("sum of stages (in app)", [r["sum"] for r in rows.values()], bold=True)
    line("whole, plain bridge in app (driver subtracted)", [r["whole"] for r in rows.values()], bold=True)
    out.append("| sum / whole | " + " | ".join(f"{r['sum'] / r['whole']:.2f}" for r in rows.values()) + " |")
    out.append("| measured stages (without the loop row) / whole | " + " | ".join(
        f"{(r['sum'] - r['loop']) / r['whole']:.2f}" for r in rows.values()) + " |")
    line("ceiling A in app (Starlette + parse + reply)", [r["ceiling_in_app"] for r in rows.values()])
    line("bridge beyond ceiling A (whole - ceiling A in app)",
         [r["whole"] - r["ceiling_in_app"] for r in rows.values()], bold=True)
    line("driver per callback (subtracted above)", [r["null"] for r in rows.values()])
    errors = {k: v["errors"] for k, v in result["kinds"].items()}
    out.append("")
    out.append(f"Wrapper overhead per entry (ns, own / parent): sync {overhead['sync'][0]:.0f} / "
               f"{overhead['sync'][1]:.0f}, async resumption {overhead['async'][0]:.0f} / {overhead['async'][1]:.0f}. "
               f"Non-2xx answers: {errors}. Repeats: {len(next(iter(result['kinds'].values()))['whole'])}, medians.")
    return "\n".join(out)


def encoding_tracing() -> Any:
    """The bridge's tracing as `serve` starts it (batched off the event loop), its spans encoded as OTLP/HTTP
    would send them (protobuf) and then dropped: what tracing costs the process, short of the socket."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from bridge.tracing import Tracing

    class EncodingExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(EncodingExporter()))
    return Tracing(provider)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--callbacks", type=int, default=3000, help="callbacks per run (Tencent: a third)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--http-us", type=float, default=DEFAULT_HTTP_OUTSIDE_US)
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--otel", action="store_true",
                        help="the plain bridge with tracing on (spans encoded as OTLP, then dropped): its 'whole' "
                             "against a run without shows what tracing costs")
    parser.add_argument("--clock", choices=("thread", "perf"), default="perf",
                        help="stage clock: perf_counter (~0.1 µs a reading; intervals over 1 ms are taken as "
                             "preempted and estimated from the stage's other entries) or thread CPU time "
                             "(~1 µs a reading on this VM: its overhead swamps the stages)")
    options = parser.parse_args(argv)
    if options.clock == "thread":
        CLOCK.now = time.thread_time_ns
    if not options.no_uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from bridge import logs

    with open(os.devnull, "w") as devnull:  # the JSON log lines are rendered and written, to nowhere
        stdout, sys.stdout = sys.stdout, devnull
        try:
            logs.setup("info")
        finally:
            sys.stdout = stdout
        result = asyncio.run(session(options))
    result["options"] = {k: str(v) for k, v in vars(options).items()}
    result["table"] = table(result, options.http_us)
    if options.json:
        options.json.write_text(json.dumps(result, indent=1, default=str), "utf-8")
    print(result["table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
