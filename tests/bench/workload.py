"""The load generators that replay a request corpus (corpora.py) against one server.

Both are closed loop, keep-alive, one request per connection at a time:
* `wrk` (Debian's wrk 4.1) with the Lua script below, which cycles through the corpus, when
  installed; wrk is bounded by duration (`-d`).
* otherwise this module's own asyncio generator (`python -m tests.bench.workload`), bounded by
  duration and, for corpora of spent-once signatures, by the corpus size (it does not wrap
  around them), printing the same result line.
Both report completed requests, 4xx/5xx answers and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from tests.bench.corpora import read_corpus

RESULT_MARK: Final = "BENCH_RESULT "
T = TypeVar("T")

WRK_SCRIPT: Final = r"""
-- Cycles through the raw HTTP requests (NUL-separated) of the file named by $BENCH_CORPUS.
local requests = {}
local n = 0
local i = 0

function init(args)
  local f = assert(io.open(os.getenv("BENCH_CORPUS"), "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local stop = string.find(data, "\0", pos, true) or (#data + 1)
    n = n + 1
    requests[n] = string.sub(data, pos, stop - 1)
    pos = stop + 1
  end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end

function done(summary, latency, reqs)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_s": %.6f, "http_errors": %d, "socket_errors": %d, '
    .. '"timeouts": %d, "p50_ms": %.4f, "p90_ms": %.4f, "p99_ms": %.4f, "max_ms": %.4f, "mean_ms": %.4f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """What one load-generator run measured (latencies of completed requests only)."""

    tool: str
    requests: int
    duration_s: float
    http_errors: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    client_cpu_pct: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


# --- load generators -------------------------------------------------------------------------------


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_load(
    tool: str,
    port: int,
    corpus: Path,
    connections: int,
    duration: float,
    cpus: str,
    workdir: Path,
    cycle: bool = True,
) -> LoadResult:
    """One closed-loop run against 127.0.0.1:`port`, the generator pinned to `cpus` (taskset -c).

    `cycle=False` (spent signatures): the Python generator stops at the corpus end; wrk always
    cycles, so such a corpus must hold more requests than a run can send (403s would show it).

    The generator's CPU is the RUSAGE_CHILDREN difference around the run (it is the only child
    reaped meanwhile)."""
    if tool == "wrk":
        script = workdir / "corpus.lua"
        if not script.exists():
            script.write_text(WRK_SCRIPT, "utf-8")
        command = [
            "taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}",
        ]  # fmt: skip
    else:
        command = [
            "taskset", "-c", cpus, sys.executable, "-m", "tests.bench.workload",
            "--port", str(port), "--corpus", str(corpus), "-c", str(connections), "-d", str(duration),
            *(["--cycle"] if cycle else []),
        ]  # fmt: skip
    before = _children_cpu_seconds()
    started = time.monotonic()
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_CORPUS": str(corpus)},
        timeout=duration + 60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    wall = time.monotonic() - started
    cpu = _children_cpu_seconds() - before
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(RESULT_MARK)), None)
    if completed.returncode != 0 or line is None:
        output = completed.stderr[-1000:] + completed.stdout[-1000:]
        raise RuntimeError(f"{tool} failed ({completed.returncode}): {output}")
    fields = json.loads(line[len(RESULT_MARK) :])
    return LoadResult(tool=tool, client_cpu_pct=100.0 * cpu / wall, **fields)


# --- the fallback generator: asyncio, raw sockets --------------------------------------------------


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _drive(port: int, requests: Sequence[bytes], connections: int, duration: float, cycle: bool) -> LoadResult:
    latencies: list[float] = []
    counters = {"next": 0, "http_errors": 0, "errors": 0}
    deadline = time.perf_counter() + duration

    async def connection() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counters["errors"] += 1
            return
        try:
            while time.perf_counter() < deadline and (cycle or counters["next"] < len(requests)):
                request = requests[counters["next"] % len(requests)]
                counters["next"] += 1
                sent = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - sent)
                if status >= 400:
                    counters["http_errors"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            counters["errors"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ms = sorted(x * 1000.0 for x in latencies)
    return LoadResult(
        tool="python",
        requests=len(ms),
        duration_s=elapsed,
        http_errors=counters["http_errors"],
        socket_errors=counters["errors"],
        timeouts=0,
        p50_ms=_percentile(ms, 50),
        p90_ms=_percentile(ms, 90),
        p99_ms=_percentile(ms, 99),
        max_ms=ms[-1] if ms else 0.0,
        mean_ms=sum(ms) / len(ms) if ms else 0.0,
    )


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop, as uvicorn does when uvloop is installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main(argv: Sequence[str] | None = None) -> int:
    """The fallback load generator: replay a corpus (once, or cycling) for at most `-d` seconds."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.workload")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("--cycle", action="store_true", help="start the corpus over at its end (else stop there)")
    args = parser.parse_args(argv)
    requests = read_corpus(args.corpus)
    result = run_coroutine(_drive(args.port, requests, args.connections, args.duration, args.cycle))
    fields = {k: v for k, v in asdict(result).items() if k not in ("tool", "client_cpu_pct")}
    print(RESULT_MARK + json.dumps(fields), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
