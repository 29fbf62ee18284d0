"""The benchmark's processes and what /proc and /metrics say about them: CPU, RSS, affinity, counts.

`Server` is one server process the benchmark started (the bridge or ceiling A, one or more
uvicorn workers): started under `taskset -c`, ready when `/readyz` answers 200, stopped by PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOAD_CORE, SERVER_CORE, BOTH = {0}, {1}, {0, 1}


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def descendants(pid: int) -> list[int]:
    """PIDs of all live descendants of `pid` (by walking /proc parent links)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry)] = int(_stat_fields(int(entry))[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds consumed so far by `pids` (those still alive)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(pid)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """Resident memory of `pid` in MB (VmRSS), or its peak so far with `key="VmHWM"`."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def machine_cpu_seconds() -> tuple[float, float, float]:
    """(busy, busy on the server core, steal) CPU seconds so far, from /proc/stat: busy is what
    this VM's processes and kernel used, steal what the hypervisor gave to other guests."""
    lines = Path("/proc/stat").read_text().splitlines()

    def busy(line: str) -> tuple[float, float]:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in line.split()[1:9])
        return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK

    total, steal = busy(lines[0])
    core = next((ln for ln in lines if ln.startswith(f"cpu{min(SERVER_CORE)} ")), lines[0])
    return total, busy(core)[0], steal


def set_affinity(pid: int, cpus: set[int]) -> None:
    """Pin every thread of `pid` and of its descendants to `cpus` (what `taskset -a -p` does)."""
    for process in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{process}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(tid), cpus)


def cpu_list(cpus: set[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def _answers(url: str) -> bool:
    """True if GET `url` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@dataclass
class Server:
    """A server process we started: the bridge or ceiling A, one or more uvicorn workers."""

    name: str
    command: list[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None
    ready_seconds: float = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, cpus: set[int], timeout: float = 30.0) -> Server:
        """Start under `taskset -c`, then wait (bounded) for /readyz to answer 200."""
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["taskset", "-c", cpu_list(cpus), *self.command],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text('utf-8', 'replace')[-2000:]}")
            if _answers(f"http://127.0.0.1:{self.port}/readyz"):
                self.ready_seconds = time.monotonic() - started
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout} s: {self.log.read_text()[-2000:]}")

    def workers(self) -> list[int]:
        """The serving processes: uvicorn's spawned workers, or the process itself."""
        spawned = []
        for pid in descendants(self.pid):
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    spawned.append(pid)
        return spawned or [self.pid]

    def pids(self) -> list[int]:
        return [self.pid, *descendants(self.pid)]

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM our PID, wait (bounded), SIGKILL it and its leftover children if needed."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return 0.0
        children = descendants(process.pid)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for child in children:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
        return time.monotonic() - started


def metrics_totals(port: int) -> dict[str, float]:
    """From the bridge's /metrics (one worker): accepted and other callbacks, records Kafka
    acknowledged, and (with a spool) records committed to the spool and drained from it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    totals = {"accepted": 0.0, "not_accepted": 0.0, "records": 0.0, "spooled": 0.0, "drained": 0.0}
    prefixes = {
        "sms_bridge_records_published_total": "records",
        "sms_bridge_spool_written_records_total": "spooled",
        "sms_bridge_spool_drained_records_total": "drained",
    }
    for line in text.splitlines():
        if line.startswith("sms_bridge_callbacks_total{"):
            key = "accepted" if 'outcome="accepted"' in line else "not_accepted"
            totals[key] += float(line.rsplit(" ", 1)[1])
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in prefixes:
            totals[prefixes[name]] += float(line.rsplit(" ", 1)[1])
    return totals
