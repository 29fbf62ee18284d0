"""The memory phase: RSS of one fresh bridge worker while a million distinct NxCloud callbacks pass.

Opt-in (`--memory-million`, or `--memory-callbacks N`), because it takes minutes. Each server
(the bridge, and the candidate when there is one) is started fresh, alone on the server core;
its idle RSS is read, then the callbacks are sent in chunks (100,000 by default), each chunk
signed just before it is sent (`ts` = now, so the chunk is inside the freshness window) and
replayed once by the Python load generator (it stops at the corpus end, so every callback is
sent exactly once: none is a replay). After every chunk the worker's RSS (VmRSS) and peak RSS
(VmHWM) are read from /proc and its `/metrics` must count the chunk as accepted. With several
servers, the chunks alternate between them (one signed chunk serves all: each process has its own
replay cache).

The bridge keeps every accepted NxCloud signature in its replay cache until it expires or the
cache is full (`replay_cache_size`, default 100,000); the benchmark's freshness window (1 hour)
outlasts the phase, so the cache fills at 100,000 callbacks and then evicts the oldest: RSS
should stop growing after the first 100,000 callbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from tests.bench.procs import Server, metrics_totals, rss_mb
from tests.bench.workload import LoadResult

DEFAULT_CHUNK: Final = 100_000
MILLION: Final = 1_000_000
SLOWEST_RATE: Final = 500.0  # callbacks/s assumed when bounding a chunk's duration


def point(name: str, server: Server, callbacks: int, started: float) -> dict[str, Any]:
    """RSS and peak RSS of the server's worker after `callbacks` callbacks."""
    worker = server.workers()[0]
    return {
        "server": name,
        "callbacks": callbacks,
        "rss_mb": round(rss_mb(worker), 1),
        "hwm_mb": round(rss_mb(worker, "VmHWM"), 1),
        "elapsed_s": time.monotonic() - started,
    }


def chunk_duration(size: int) -> float:
    """An upper bound on the seconds one chunk may take (the generator stops at the corpus end)."""
    return max(60.0, size / SLOWEST_RATE)


def measure_memory(
    servers: Sequence[tuple[str, Server]],
    total: int,
    corpus: Callable[[int, int], Path],
    load: Callable[[Server, Path, float], LoadResult],
    chunk: int = DEFAULT_CHUNK,
) -> list[dict[str, Any]]:
    """Send `total` distinct callbacks to each server in chunks; one point per server and chunk.

    `corpus(count, first)` signs callbacks `first` .. `first + count - 1` now and writes them to
    a file; `load(server, file, seconds)` replays that file once against the server."""
    started = time.monotonic()
    points = [point(name, server, 0, started) for name, server in servers]
    sent = dict.fromkeys((name for name, _ in servers), 0)
    done = 0
    while done < total:
        size = min(chunk, total - done)
        signing = time.monotonic()
        path = corpus(size, done)
        signed_s = time.monotonic() - signing
        for name, server in servers:
            before = metrics_totals(server.port)
            result = load(server, path, chunk_duration(size))
            after = metrics_totals(server.port)
            sent[name] += result.requests
            sample = point(name, server, sent[name], started)
            sample.update(
                rps=result.rps,
                p99_ms=result.p99_ms,
                errors=result.http_errors + result.socket_errors + result.timeouts,
                accepted=after["accepted"] - before["accepted"],
                not_accepted=after["not_accepted"] - before["not_accepted"],
                load_s=result.duration_s,
                signing_s=signed_s,
            )
            points.append(sample)
            print(
                f"  memory   {name:16} {sent[name]:9,} callbacks  RSS {sample['rss_mb']:6.1f} MB"
                f"  peak {sample['hwm_mb']:6.1f} MB  {result.rps:7.0f} req/s  p99 {result.p99_ms:7.2f} ms"
                f"  accepted {sample['accepted']:,.0f}  errors {sample['errors']}"
                f"  (signed in {signed_s:.1f} s, sent in {result.duration_s:.1f} s)",
                flush=True,
            )
        path.unlink(missing_ok=True)
        done += size
    return points
