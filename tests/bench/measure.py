"""One measurement: a load run against one server, or the producer alone, as one row of figures.

A row holds what the load generator saw (callbacks/s, latency percentiles, errors), the CPU of
the server, the broker and the load generator, and of other jobs on the machine during the run
(/proc/stat), the server's RSS per worker, and for the bridge what its `/metrics` counted during
the run (accepted callbacks, records Kafka acknowledged, records committed to the spool).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.corpora import RECORDS_PER_CALLBACK
from tests.bench.procs import (
    LOAD_CORE,
    ROOT,
    SERVER_CORE,
    Server,
    cpu_list,
    cpu_seconds,
    machine_cpu_seconds,
    metrics_totals,
    rss_mb,
)
from tests.bench.workload import RESULT_MARK, LoadResult, run_load


@dataclass
class Meter:
    """Takes measurements with one load generator against servers next to one broker."""

    tool: str
    duration: int
    workdir: Path
    broker_pid: int
    config: Path
    client_cpus: set[int] = field(default_factory=lambda: set(LOAD_CORE))
    rows: list[dict[str, Any]] = field(default_factory=list)

    def load(
        self, server: Server, corpus: Path, connections: int, seconds: float, cycle: bool, tool: str | None = None
    ) -> LoadResult:
        """A bare load run (warm-up, profile, memory phase): no row."""
        return run_load(
            tool or self.tool,
            server.port,
            corpus,
            connections,
            seconds,
            cpu_list(self.client_cpus),
            self.workdir,
            cycle=cycle,
        )

    def measure(
        self, scenario: str, server: Server, kind: str, connections: int, run: int, phase: str, corpus: Path
    ) -> dict[str, Any]:
        """One load run against `server`, with CPU and RSS from /proc and (one bridge worker) /metrics.

        A corpus of NxCloud callbacks sent to a bridge is spent (the bridge remembers its
        signatures): it is deleted after the run."""
        bridge = scenario.startswith("bridge")
        scrape = bridge and not scenario.endswith("_2w")
        pids = server.pids()
        before = metrics_totals(server.port) if scrape else None
        server_cpu, broker_cpu = cpu_seconds(pids), cpu_seconds([self.broker_pid])
        busy, core, steal = machine_cpu_seconds()
        signed_once = kind == "nxcloud" and bridge
        result = run_load(
            self.tool,
            server.port,
            corpus,
            connections,
            self.duration,
            cpu_list(self.client_cpus),
            self.workdir,
            cycle=not signed_once,
        )
        span = result.duration_s
        server_cpu = cpu_seconds(pids) - server_cpu
        broker_cpu = cpu_seconds([self.broker_pid]) - broker_cpu
        busy_after, core_after, steal_after = machine_cpu_seconds()
        busy, core, steal = busy_after - busy, core_after - core, steal_after - steal
        row: dict[str, Any] = {
            "phase": phase,
            "scenario": scenario,
            "kind": kind,
            "concurrency": connections,
            "run": run,
            "rps": result.rps,
            "records_s": result.rps * RECORDS_PER_CALLBACK[kind] if bridge else None,
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
            row["spooled"] = after["spooled"] - before["spooled"]
        self.rows.append(row)
        if signed_once:
            corpus.unlink(missing_ok=True)  # its signatures are spent
        flag = "  (!) errors" if row["http_errors"] or row["socket_errors"] or row.get("not_accepted") else ""
        flag += f"  ({row['spooled']:.0f} records spooled)" if row.get("spooled") else ""
        print(
            f"  {phase:8} run {run} {scenario:22} {kind:8} c={connections:<3} {result.rps:8.0f} req/s"
            f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  server CPU {row['server_cpu_pct']:5.1f} %"
            f"  others {row['others_cpu_pct']:4.0f} % (core 1: {row.get('server_core_others_pct', 0):3.0f} %){flag}",
            flush=True,
        )
        return row

    def ceiling_b(self, run: int, concurrency: int = 64) -> dict[str, Any]:
        """The producer alone on core 1 (the broker stays on core 0)."""
        broker_cpu = cpu_seconds([self.broker_pid])
        command = [
            "taskset", "-c", cpu_list(SERVER_CORE), sys.executable, "-m", "tests.bench.producer",
            "--config", str(self.config), "--concurrency", str(concurrency), "--duration", str(self.duration),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=self.duration + 60)
        wall = time.monotonic() - started
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_MARK)), None)
        if line is None:
            raise RuntimeError(f"producer failed: {done.stderr[-2000:]}")
        result = json.loads(line.removeprefix(RESULT_MARK))
        broker_cpu = cpu_seconds([self.broker_pid]) - broker_cpu
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
            f"  main     run {run} {'ceiling_b':22} producer c={concurrency:<3} {row['records_s']:8.0f} rec/s"
            f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  producer CPU {row['server_cpu_pct']:5.1f} %",
            flush=True,
        )
        return row
