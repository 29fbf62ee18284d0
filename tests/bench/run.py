"""The benchmark: the bridge against its two ceilings, on loopback, with a written method.

    .venv/bin/python -m tests.bench.run                    # full run (~8 min)
    .venv/bin/python -m tests.bench.run --quick            # smoke run (~2 min): 1 run x 2 s
    .venv/bin/python -m tests.bench.run --memory-million   # plus the memory phase (minutes more)

What it starts (separate processes, free loopback ports, all stopped by PID at the end):
the embedded Tansu broker; the bridge (`python -m bridge serve --config <generated yaml>`), and
the same bridge with `spool:` configured (a SQLite file in the working directory); ceiling A
(`uvicorn --factory tests.bench.apps:ceiling_app`: the same uvicorn + Starlette stack, one
worker, a bare endpoint that reads and parses the body); for ceiling B, the Kafka producer alone
(`python -m tests.bench.producer`, aiokafka with the bridge's options, acks=all, 64 coroutines x
send_and_wait); for the scaling phase, the bridge under
`uvicorn --workers 2 --factory tests.bench.apps:bridge_app` plus ceiling A with 2 workers; with
`--candidate DIR`, the bridge and the spool bridge again from DIR's `bridge/` package.

CPU placement (2 cores): this process pins itself to core 0 first, so everything it starts
inherits core 0 (the broker, wrk, py-spy) unless started with `taskset -c 1`: the server under
test (bridge or ceiling A) and the ceiling-B producer run on core 1. The scaling phase runs
everything on both cores ("shared"), 1 worker against 2 workers.

Phases, in order: startup (fresh starts of `bridge serve`: seconds to /readyz 200, idle RSS);
the main matrix (runs x concurrency {1, 16, 64} x [ceiling A, bridge, spool bridge: NxCloud
body; ceiling A, bridge: Tencent x5 body; ceiling A, bridge: Twilio form body], then ceiling B,
scenarios interleaved run by run); scaling (c=64 NxCloud, 1 vs 2 workers, bridge and ceiling
A, interleaved); profile (py-spy on the bridge at c=64 per body, in runs of their own that are
not used for figures); memory (opt-in: memory.py). Medians over the runs are reported; ratios
are medians of per-run ratios against the run next to it (report.py). Results:
tests/bench/results/<stamp>.json and .md (gitignored).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from bridge.cli.dev_broker import EmbeddedBroker, free_port
from bridge.config import load
from tests.bench import pyspy
from tests.bench.corpora import KINDS, TWILIO_INSTANCE, nxcloud_corpus, tencent_corpus, twilio_corpus, write_corpus
from tests.bench.measure import Meter
from tests.bench.memory import MILLION, measure_memory
from tests.bench.procs import BOTH, LOAD_CORE, ROOT, SERVER_CORE, Server, rss_mb, set_affinity
from tests.bench.report import environment, markdown, summarise
from tests.bench.workload import LoadResult, have_wrk
from tests.conftest import NX_ACCESS_KEY, NX_SECRET, TENCENT_TOKEN, TOPICS, config_dict

RESULTS = Path(__file__).resolve().parent / "results"
CYCLED_CORPUS: Final = {"tencent": 200, "twilio": 1000}  # callbacks in a corpus that is replayed in a loop
PHASES: Final = ("startup", "main", "scaling", "profile", "memory")


@dataclass
class Options:
    runs: int
    duration: int
    concurrency: list[int]
    tool: str
    corpus_rate: int
    phases: list[str]
    profile_seconds: int
    startup_samples: int
    keep_logs: bool
    candidate: Path | None
    spool_dir: Path | None
    memory_callbacks: int


class Bench:
    """Owns the processes, the working directory and the measurements of one benchmark run."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.o = options
        self.workdir = workdir
        self.spool_dir = options.spool_dir or workdir
        self.startup: list[dict[str, Any]] = []
        self.profiles: list[dict[str, Any]] = []
        self.memory: list[dict[str, Any]] = []
        self.spool_files: list[Path] = []
        self.servers: list[Server] = []
        self.broker = EmbeddedBroker(log_file=workdir / "broker.log")
        self.config = workdir / "bench.yaml"
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self._tags = 0
        self.meter: Meter  # once the broker runs

    # processes

    def _bridge(self, name: str = "bridge", tree: Path = ROOT, spool: bool = False) -> Server:
        """`python -m bridge serve` from `tree` (its working directory comes first on sys.path, so
        a candidate tree's `bridge/` package is the one imported); with its own spool file."""
        port = free_port()
        config = self.write_config(name, spool=True) if spool else self.config
        command = [sys.executable, "-m", "bridge", "serve", "--config", str(config), "--port", str(port)]
        env = {"PYTHONPATH": str(tree)} if tree != ROOT else {}
        return Server(name, command, port, self.workdir / f"{name}-{port}.log", env, cwd=tree)

    def _uvicorn(self, name: str, factory: str, workers: int, tree: Path = ROOT) -> Server:
        """`uvicorn --factory` with `workers` workers; `tree`'s `bridge/` package comes first on sys.path."""
        port = free_port()
        # The flags mirror bridge.cli.serve.uvicorn_config.
        flags = "--no-access-log --log-level warning --no-server-header --timeout-keep-alive 75"
        flags += " --limit-concurrency 2048 --timeout-graceful-shutdown 5"
        command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers), *flags.split()]
        env = {"BENCH_BRIDGE_CONFIG": str(self.config)}
        if tree != ROOT:
            env["PYTHONPATH"] = f"{tree}{os.pathsep}{ROOT}"  # the candidate's bridge/, this tree's tests/
        return Server(name, command, port, self.workdir / f"{name}-{port}.log", env, cwd=tree)

    def start(self, server: Server, cpus: set[int]) -> Server:
        self.servers.append(server)
        return server.start(cpus)

    def stop(self, server: Server) -> float:
        self.servers.remove(server)
        return server.stop()

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        self.broker.stop()

    def remove_spool_files(self) -> None:
        """The spool bridges' SQLite files (with their -wal and -shm companions)."""
        for path in self.spool_files:
            for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                companion.unlink(missing_ok=True)

    def write_config(self, name: str = "bench", spool: bool = False) -> Path:
        """The bridge configuration: tests' Tencent and NxCloud instances plus a Twilio instance;
        with `spool`, a `spool:` block with a fresh file (every other key at its default)."""
        document = config_dict(self.broker.bootstrap)
        for provider in document["providers"]:
            if provider["kind"] == "nxcloud":
                # The corpus is signed once per run; every signature is still accepted once only.
                provider["timestamp_tolerance_seconds"] = 3600
        document["providers"].append(dict(TWILIO_INSTANCE))
        if spool:
            path = self.spool_dir / f"bench-{name}-{self.stamp}.db"
            path.unlink(missing_ok=True)
            self.spool_files.append(path)
            document["spool"] = {"path": str(path)}
        target = self.workdir / f"{name}.yaml"
        target.write_text(yaml.safe_dump(document), "utf-8")
        return target

    # corpora

    def _tag(self) -> str:
        self._tags += 1
        return f"{self.stamp[-7:-1]}{self._tags:05d}"

    def corpus(self, kind: str, fresh_seconds: float = 0.0) -> Path:
        """A corpus file: NxCloud with enough distinct signatures for `fresh_seconds` of load."""
        tag = self._tag()
        if kind == "tencent":
            requests = tencent_corpus(CYCLED_CORPUS[kind], tag, TENCENT_TOKEN)
        elif kind == "twilio":
            requests = twilio_corpus(CYCLED_CORPUS[kind], tag, load(self.config))
        else:
            count = max(1000, int(self.o.corpus_rate * fresh_seconds))
            requests = nxcloud_corpus(count, tag, NX_ACCESS_KEY, NX_SECRET)
        return write_corpus(self.workdir / f"corpus-{kind}-{tag}.bin", requests)

    # phases

    def phase_startup(self) -> None:
        """Fresh `bridge serve` starts: seconds from spawn to /readyz 200, idle RSS, stop time."""
        for i in range(self.o.startup_samples):
            server = self.start(self._bridge(f"startup{i}"), SERVER_CORE)
            time.sleep(0.3)
            sample = {"ready_s": server.ready_seconds, "idle_rss_mb": rss_mb(server.pid)}
            sample["stop_s"] = self.stop(server)
            self.startup.append(sample)
            ready, idle = sample["ready_s"], sample["idle_rss_mb"]
            print(f"  startup  {i}: ready in {ready:.2f} s, idle RSS {idle:.0f} MB", flush=True)

    def warm_up(self, *servers: Server) -> None:
        for server in servers:
            for kind in KINDS:
                self.meter.load(server, self.corpus(kind, fresh_seconds=2), 16, 1, cycle=kind != "nxcloud")

    def phase_main(self, servers: dict[str, Server]) -> None:
        """Per run and concurrency: ceiling A, then the bridges, per body; ceiling B once per run.
        The bridges' order flips from run to run, so none always follows ceiling A."""
        corpora = {kind: self.corpus(kind) for kind in KINDS}  # ceiling A's; the bridge's too but NxCloud
        bodies = {
            "nxcloud": [s for s in servers if s != "ceiling_a"],
            "tencent": [s for s in servers if s in ("bridge", "bridge_candidate")],
            "twilio": [s for s in servers if s in ("bridge", "bridge_candidate")],
        }
        for run in range(1, self.o.runs + 1):
            for c in self.o.concurrency:
                for kind, names in bodies.items():
                    self.meter.measure("ceiling_a", servers["ceiling_a"], kind, c, run, "main", corpora[kind])
                    for name in names if run % 2 else names[::-1]:
                        fresh = kind == "nxcloud"  # a bridge spends NxCloud signatures
                        corpus = self.corpus(kind, fresh_seconds=self.o.duration) if fresh else corpora[kind]
                        self.meter.measure(name, servers[name], kind, c, run, "main", corpus)
            self.meter.ceiling_b(run)

    def phase_scaling(self, bridges: dict[str, Server], ceiling: Server) -> None:
        """Everything on both cores; 1 worker (the processes above) against 2 workers, for the bridge
        (and the candidate, from its own tree) and for ceiling A."""
        singles = [ceiling, *bridges.values()]
        set_affinity(self.broker.process.pid, BOTH)  # type: ignore[union-attr]
        for server in singles:
            set_affinity(server.pid, BOTH)
        self.meter.client_cpus = BOTH
        doubles: dict[str, Server] = {}
        for name in bridges:
            tree = self.o.candidate if name == "bridge_candidate" and self.o.candidate else ROOT
            server = self.start(self._uvicorn(f"{name}-2w", "tests.bench.apps:bridge_app", 2, tree), BOTH)
            connected = self._wait_log(server, '"kafka_connected"', 2)
            self.startup.append({"server": f"{name}, uvicorn --workers 2", "ready_s": server.ready_seconds,
                                 "all_workers_connected_s": connected})  # fmt: skip
            doubles[name] = server
        ceiling2 = self.start(self._uvicorn("ceiling-2w", "tests.bench.apps:ceiling_app", 2), BOTH)
        nx_ceiling = self.corpus("nxcloud")
        measure = self.meter.measure
        for run in range(1, self.o.runs + 1):
            measure("ceiling_a", ceiling, "nxcloud", 64, run, "shared", nx_ceiling)
            measure("ceiling_a_2w", ceiling2, "nxcloud", 64, run, "shared", nx_ceiling)
            for name, server in bridges.items():
                fresh = self.o.duration * 1.5  # two workers may serve more than the main phase's rate
                measure(name, server, "nxcloud", 64, run, "shared", self.corpus("nxcloud", fresh))
                measure(f"{name}_2w", doubles[name], "nxcloud", 64, run, "shared", self.corpus("nxcloud", fresh))
        for server in [*doubles.values(), ceiling2]:
            self.stop(server)
        set_affinity(self.broker.process.pid, LOAD_CORE)  # type: ignore[union-attr]
        for server in singles:
            set_affinity(server.pid, SERVER_CORE)
        self.meter.client_cpus = LOAD_CORE

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
        """py-spy on the pinned bridge at c=64 while the load runs; these runs are not figures."""
        if pyspy.py_spy() is None:
            print("  profile: py-spy not installed; skipped (pip install py-spy)", flush=True)
            return
        seconds = self.o.profile_seconds
        for kind in KINDS:
            corpus = self.corpus(kind, fresh_seconds=seconds + 3)
            out = RESULTS / f"{self.stamp}-profile-{name}-{kind}-c64.txt"
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                running = pool.submit(self.meter.load, bridge, corpus, 64, seconds + 2, kind != "nxcloud")
                time.sleep(1.0)  # let the load settle before sampling
                done = pyspy.record(bridge.pid, seconds, out)
                running.result()
            if done.returncode != 0 or not out.exists():
                print(f"  profile {kind}: py-spy failed: {done.stderr[-500:]}", flush=True)
                continue
            summary = pyspy.summarise(out)
            summary["kind"] = kind
            summary["target"] = name
            self.profiles.append(summary)
            top = ", ".join(f"{f.split(' (')[0]} {s} %" for f, s in summary["self_top"][:5])  # type: ignore[index]
            print(f"  profile {name} {kind}: {summary['samples']} samples; self: {top}", flush=True)

    def phase_memory(self) -> None:
        """Fresh single-worker bridges (and candidate) on core 1, `memory_callbacks` distinct NxCloud
        callbacks each at c=64, RSS after every chunk (memory.py)."""
        servers = [("bridge", self.start(self._bridge("memory"), SERVER_CORE))]
        if self.o.candidate is not None:
            candidate = self._bridge("memory-candidate", self.o.candidate)
            servers.append(("bridge_candidate", self.start(candidate, SERVER_CORE)))
        tag = self._tag()

        def corpus(count: int, first: int) -> Path:
            requests = nxcloud_corpus(count, tag, NX_ACCESS_KEY, NX_SECRET, first=first)
            return write_corpus(self.workdir / f"corpus-memory-{tag}-{first}.bin", requests)

        def drive(server: Server, path: Path, seconds: float) -> LoadResult:
            return self.meter.load(server, path, 64, seconds, cycle=False, tool="python")

        self.memory = measure_memory(servers, self.o.memory_callbacks, corpus, drive)
        for _, server in servers:
            self.stop(server)

    def run(self) -> dict[str, Any]:
        os.sched_setaffinity(0, LOAD_CORE)  # every child inherits core 0 unless taskset says otherwise
        started = time.monotonic()
        load_before = os.getloadavg()
        phases = self.o.phases
        self.broker.start()
        broker_pid = self.broker.process.pid  # type: ignore[union-attr]
        set_affinity(broker_pid, LOAD_CORE)
        self.broker.create_topics(TOPICS)
        self.write_config()
        self.meter = Meter(self.o.tool, self.o.duration, self.workdir, broker_pid, self.config)
        print(f"broker {self.broker.bootstrap}; load generator: {self.o.tool}; workdir {self.workdir}", flush=True)
        if "startup" in phases:
            self.phase_startup()
        if {"main", "scaling", "profile"} & set(phases):
            self.phase_servers(phases)
        if "memory" in phases:
            self.phase_memory()
        broker_rss = rss_mb(broker_pid)
        return {
            "stamp": self.stamp,
            "options": asdict(self.o),
            "environment": environment(self.o.tool, load_before, os.getloadavg(), broker_rss, self.spool_dir),
            "elapsed_s": time.monotonic() - started,
            "rows": self.meter.rows,
            "startup": self.startup,
            "profiles": self.profiles,
            "memory": self.memory,
        }

    def phase_servers(self, phases: Sequence[str]) -> None:
        """The phases on long-lived servers: main, scaling, profile."""
        bridge = self.start(self._bridge(), SERVER_CORE)
        self.startup.append({"server": "bridge serve (main)", "ready_s": bridge.ready_seconds})
        servers = {"ceiling_a": self.start(self._uvicorn("ceiling-a", "tests.bench.apps:ceiling_app", 1), SERVER_CORE)}
        servers["bridge"] = bridge
        if "main" in phases:
            servers["bridge_spool"] = self.start(self._bridge("spool", spool=True), SERVER_CORE)
            self.startup.append({"server": "bridge serve with spool", "ready_s": servers["bridge_spool"].ready_seconds})
        candidate = self.o.candidate
        if candidate is not None:
            servers["bridge_candidate"] = self.start(self._bridge("candidate", candidate), SERVER_CORE)
            if "main" in phases:
                servers["bridge_candidate_spool"] = self.start(
                    self._bridge("candidate-spool", candidate, spool=True), SERVER_CORE
                )
        self.warm_up(*servers.values())
        if "main" in phases:
            self.phase_main(servers)
        if "scaling" in phases:
            singles: dict[str, Server] = {n: servers[n] for n in ("bridge", "bridge_candidate") if n in servers}
            self.phase_scaling(singles, servers["ceiling_a"])
        if "profile" in phases and self.o.profile_seconds:
            self.phase_profile(bridge)
            if "bridge_candidate" in servers:
                self.phase_profile(servers["bridge_candidate"], "bridge_candidate")
        for server in list(servers.values()):
            self.stop(server)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run x 2 s, 3 s profiles, 1 startup sample")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (whole seconds)")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--corpus-rate", type=int, default=12_000, help="distinct NxCloud callbacks per second of load")
    parser.add_argument(
        "--phases",
        default="startup,main,scaling,profile",
        help=f"comma-separated, from {','.join(PHASES)} (memory is added by --memory-*)",
    )
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1-vs-2-workers phase")
    parser.add_argument("--profile-seconds", type=int, default=6, help="0 skips the py-spy phase")
    parser.add_argument("--memory-million", action="store_true", help="add the memory phase: 1,000,000 callbacks")
    parser.add_argument("--memory-callbacks", type=int, default=0, help="add the memory phase with this many callbacks")
    parser.add_argument("--spool-dir", type=Path, help="where the spool bridges keep their files (default: workdir)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the working directory (logs, config)")
    parser.add_argument(
        "--candidate",
        type=Path,
        help="a source tree with a modified bridge/ package, run as a second bridge interleaved with the current one",
    )
    args = parser.parse_args(argv)
    tool = ("wrk" if have_wrk() else "python") if args.loadgen == "auto" else args.loadgen
    quick = args.quick
    phases = [p for p in args.phases.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))} (choose from {', '.join(PHASES)})")
    memory = MILLION if args.memory_million else args.memory_callbacks
    if memory and "memory" not in phases:
        phases.append("memory")
    if "memory" in phases and not memory:
        memory = MILLION
    if args.no_scaling and "scaling" in phases:
        phases.remove("scaling")
    return Options(
        runs=1 if quick else args.runs,
        duration=2 if quick else args.duration,
        concurrency=[int(c) for c in args.concurrency.split(",")],
        tool=tool,
        corpus_rate=args.corpus_rate,
        phases=phases,
        profile_seconds=min(3, args.profile_seconds) if quick else args.profile_seconds,
        startup_samples=1 if quick else 3,
        keep_logs=args.keep_logs,
        candidate=args.candidate.resolve() if args.candidate else None,
        spool_dir=args.spool_dir.resolve() if args.spool_dir else None,
        memory_callbacks=memory,
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
            bench.remove_spool_files()
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
