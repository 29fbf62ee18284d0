"""The CPU budget per stage from py-spy samples of the bridge under load (issue #19).

    .venv/bin/python -m tests.bench.stage_profile                 # 6 s of load per body and server
    .venv/bin/python -m tests.bench.stage_profile --seconds 15     # more samples, smaller errors
    .venv/bin/python -m tests.bench.stage_profile --reattribute tests/bench/results/<stamp>-stages.json

Processes as in the benchmark (run.py): the embedded broker, the bridge (`python -m bridge
serve`, the benchmark's configuration) and ceiling A (`uvicorn --factory
tests.bench.apps:ceiling_app`); this process and all it starts (broker, wrk, py-spy) on core 0,
the two servers alone on core 1, free loopback ports, everything stopped by PID at the end.

Per body (NxCloud `dr`, 1 record, every signature distinct; Tencent, 5 reports; Twilio, form
+ HMAC-SHA1) and server (ceiling A first, then the bridge), at c=64: a control run of the same
load without py-spy (`--no-control` skips it), then `py-spy record --format raw` starts, wrk
runs `--seconds`, and py-spy stops 1.5 s after the load (the server idles then: idle samples
are left out). /proc gives the server's CPU during the load, hence CPU µs per completed
callback (as measure.py), and during py-spy's whole window. Each sample goes to one stage
(stage_rules.py), so a stage's µs = its share of the samples x the measured µs per callback:
the rows add up to the measured whole by construction; ± is one binomial standard deviation of
the share, times the whole.

The check printed: the sampled running time (samples / rate) against the CPU /proc counted in
the same window. py-spy counts a thread as running when its /proc state is R, which also holds
while it waits for its core (other jobs) and, in py-spy's default blocking mode, while py-spy
has stopped it to read its stack; a server saturated at c=64 is in R through the whole load, so
samples / rate is close to the load's duration (printed too) and exceeds the CPU by the core
time the server did not get (the core's split during the load is printed: server, other jobs,
idle, steal). The shares stay CPU shares as long as those moments fall at random points of the
server's code (preemption by other jobs and py-spy's timer are independent of it).

py-spy runs blocking (its default) at 100 Hz: each sample stops the server (ptrace) for a
moment, which slows its throughput; its CPU per callback moved by 0.93-1.22x against the control
run in 7 trials here at 100 Hz, both ways, within this machine's run-to-run noise, while 200 Hz
cost +7-25 % (kernel time of the stops). `--nonblocking` reads the
stacks of the running process and tears them: in trials here 12-26 % of the samples failed and
30-66 % of the rest lacked their outer frames, and the shares moved beyond their errors
(parsing 1.9 % against 6.1 % blocking, log line 1.2 % against 4.6 %, glue 23 % against 13 %).

Results: tests/bench/results/<stamp>-stages.json (every figure, the frames that decided each
row) and .md (the table and those frames), plus the raw profiles; `--reattribute` rebuilds the
table from a saved JSON and its raw files with the current rules, without load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from tests.bench import pyspy
from tests.bench.corpora import KINDS
from tests.bench.measure import Meter
from tests.bench.procs import CLK_TCK, LOAD_CORE, SERVER_CORE, Server, cpu_seconds, metrics_totals
from tests.bench.report import environment
from tests.bench.run import RESULTS, Bench, Options
from tests.bench.stage_rules import HTTP, LOOP, OTHER, STAGES, Attribution, attribute_file
from tests.bench.workload import have_wrk
from tests.conftest import TOPICS

TITLES: Final = {"nxcloud": "NxCloud (1 rec)", "tencent": "Tencent x5", "twilio": "Twilio (form + HMAC-SHA1)"}
CONCURRENCY: Final = 64
TAIL_SECONDS: Final = 2  # py-spy runs this much longer than the load: the server idles, nothing is sampled
ATTACH_SECONDS: Final = 0.5  # py-spy's start before the load
CEILING_FACTORY: Final = "tests.bench.apps:ceiling_app"


@dataclass
class Window:
    """One profiled load run: what /proc, wrk, py-spy (and the bridge's /metrics) said."""

    target: str  # "bridge" or "ceiling_a"
    kind: str
    seconds: int
    rate: int
    nonblocking: bool
    raw: str  # the py-spy raw file, relative to RESULTS
    requests: int = 0
    load_s: float = 0.0  # wrk's duration
    http_errors: int = 0
    socket_errors: int = 0
    cpu_load_s: float = 0.0  # server CPU during the load
    cpu_window_s: float = 0.0  # server CPU from py-spy's start to its end
    core_pct: dict[str, float] = field(default_factory=dict)  # the server's core during the load: server, others...
    pyspy_samples: int = 0  # as py-spy reported them (running samples written)
    pyspy_errors: int = 0
    control_us: float | None = None  # CPU µs per callback of the same load just before, without py-spy
    control_core_pct: dict[str, float] = field(default_factory=dict)
    accepted: float | None = None  # the bridge's /metrics: callbacks accepted during the window
    records_acked: float | None = None
    stages: dict[str, Any] = field(default_factory=dict)  # filled by attribute()

    @property
    def us_per_callback(self) -> float:
        return 1e6 * self.cpu_load_s / self.requests if self.requests else 0.0

    @property
    def sampled_s(self) -> float:
        return self.pyspy_samples / self.rate


def core_seconds(core: int = min(SERVER_CORE)) -> dict[str, float]:
    """Seconds so far of one core, from /proc/stat: busy (every process and the kernel), idle
    (with iowait) and steal (time the hypervisor gave to other guests)."""
    line = next(ln for ln in Path("/proc/stat").read_text().splitlines() if ln.startswith(f"cpu{core} "))
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) / CLK_TCK for v in line.split()[1:9])
    return {"busy": user + nice + system + irq + softirq, "idle": idle + iowait, "steal": steal}


def core_shares(before: dict[str, float], after: dict[str, float], server_cpu: float, span: float) -> dict[str, float]:
    """The server's core during a load of `span` seconds, in %: the server, other processes, idle, steal."""
    busy, idle, steal = (after[k] - before[k] for k in ("busy", "idle", "steal"))
    shares = {"server": server_cpu, "others": max(0.0, busy - server_cpu), "idle": idle, "steal": steal}
    return {k: 100.0 * v / span for k, v in shares.items()} if span > 0 else {}


def control(bench: Bench, server: Server, target: str, kind: str, seconds: int) -> tuple[float, dict[str, float]]:
    """The same load without py-spy: CPU µs per callback, and the server's core during it."""
    corpus = bench.corpus(kind, fresh_seconds=seconds + 1)
    pids = server.pids()
    cpu_before, core_before = cpu_seconds(pids), core_seconds()
    result = bench.meter.load(server, corpus, CONCURRENCY, seconds, cycle=kind != "nxcloud")
    cpu, core_after = cpu_seconds(pids) - cpu_before, core_seconds()
    if kind == "nxcloud" and target == "bridge":
        corpus.unlink(missing_ok=True)
    us = 1e6 * cpu / result.requests if result.requests else 0.0
    return us, core_shares(core_before, core_after, cpu, result.duration_s)


def record(bench: Bench, server: Server, target: str, kind: str, o: argparse.Namespace, stamp: str) -> Window:
    """py-spy on `server` while wrk runs `o.seconds` of `kind` at c=64 (after a control run without py-spy)."""
    executable = pyspy.py_spy()
    assert executable is not None
    raw = RESULTS / f"{stamp}-stages-{target}-{kind}.txt"
    window = Window(target, kind, o.seconds, o.rate, o.nonblocking, raw.name)
    if o.control:
        window.control_us, window.control_core_pct = control(bench, server, target, kind, o.seconds)
    corpus = bench.corpus(kind, fresh_seconds=o.seconds + 1)
    bridge = target == "bridge"
    before = metrics_totals(server.port) if bridge else None
    pids = server.pids()
    command = [
        executable, "record", "--pid", str(server.pid), "--duration", str(o.seconds + TAIL_SECONDS),
        "--rate", str(o.rate), "--format", "raw", "--output", str(raw), *(["--nonblocking"] if o.nonblocking else []),
    ]  # fmt: skip
    cpu_start = cpu_seconds(pids)
    spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(ATTACH_SECONDS)
        cpu_before = cpu_seconds(pids)
        core_before = core_seconds()
        result = bench.meter.load(server, corpus, CONCURRENCY, o.seconds, cycle=kind != "nxcloud")
        cpu_after = cpu_seconds(pids)
        core_after = core_seconds()
        output, _ = spy.communicate(timeout=o.seconds + TAIL_SECONDS + 60)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait(timeout=10)
    window.cpu_window_s = cpu_seconds(pids) - cpu_start
    if kind == "nxcloud" and bridge:
        corpus.unlink(missing_ok=True)  # its signatures are spent
    if spy.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {output[-1000:]}")
    counts = re.search(r"Samples: (\d+) Errors: (\d+)", output)
    window.pyspy_samples, window.pyspy_errors = (int(counts[1]), int(counts[2])) if counts else (0, 0)
    window.requests, window.load_s = result.requests, result.duration_s
    window.http_errors, window.socket_errors = result.http_errors, result.socket_errors + result.timeouts
    window.cpu_load_s = cpu_after - cpu_before
    window.core_pct = core_shares(core_before, core_after, window.cpu_load_s, result.duration_s)
    if before is not None:
        after = metrics_totals(server.port)
        window.accepted = after["accepted"] - before["accepted"]
        window.records_acked = after["records"] - before["records"]
    attribute(window)
    unprofiled = f" (without py-spy {window.control_us:.1f})" if window.control_us is not None else ""
    print(
        f"  {target:9} {kind:8} {result.rps:7.0f} callbacks/s {window.us_per_callback:6.1f} µs CPU/callback{unprofiled}"
        f"  samples {window.sampled_s:5.2f} s vs CPU {window.cpu_window_s:5.2f} s"
        f"  (py-spy errors {window.pyspy_errors}; core {min(SERVER_CORE)}: {_core(window.core_pct)})",
        flush=True,
    )
    return window


def attribute(window: Window, results: Path = RESULTS) -> Attribution:
    """Attribute the window's raw file and store per stage: samples, share, ±, µs, deciding frames."""
    found = attribute_file(results / window.raw)
    us = window.us_per_callback
    window.stages = {
        "samples": found.samples,
        "rows": {
            stage: {
                "samples": found.by_stage[stage],
                "share": found.share(stage),
                "share_error": found.error(stage),
                "us": found.share(stage) * us,
                "us_error": found.error(stage) * us,
                "top": found.top(stage, 8),
            }
            for stage in STAGES
        },
    }
    return found


# --- the table ------------------------------------------------------------------------------------------


def _cell(window: Window | None, stage: str) -> str:
    if window is None:
        return "-"
    row = window.stages["rows"][stage]
    if not row["samples"]:
        return "0"
    return f"{row['us']:.1f} ± {row['us_error']:.1f} ({100 * row['share']:.1f} %)"


def _control(window: Window | None) -> str:
    if window is None or window.control_us is None:
        return "-"
    return f"{window.control_us:.1f} (core: {_core(window.control_core_pct)})"


def _errors(window: Window) -> str:
    failed = window.http_errors + window.socket_errors
    return f" · **{failed} failed requests**" if failed else ""


def _core(shares: dict[str, float]) -> str:
    return " · ".join(f"{k} {v:.0f} %" for k, v in shares.items() if k == "server" or v >= 0.5)


def markdown(windows: Sequence[Window], top: int = 3) -> str:
    """Stages as rows, bodies as columns (the bridge), ceiling A's rows and the checks below."""
    by = {(w.target, w.kind): w for w in windows}
    kinds = [k for k in KINDS if ("bridge", k) in by or ("ceiling_a", k) in by]
    bridge = [by.get(("bridge", k)) for k in kinds]
    ceiling = [by.get(("ceiling_a", k)) for k in kinds]
    out = [
        "| µs CPU per callback ± 1 s.d. (share of samples) | " + " | ".join(TITLES[k] for k in kinds) + " |",
        "|---|" + "---:|" * len(kinds),
    ]

    def line(name: str, cells: Sequence[str]) -> None:
        out.append(f"| {name} | " + " | ".join(cells) + " |")

    def whole(w: Window | None) -> str:
        return f"**{w.us_per_callback:.1f}**" if w is not None else "-"

    for stage in STAGES:
        line(stage, [_cell(w, stage) for w in bridge])
    line("**whole: bridge, /proc CPU per completed callback (= sum)**", [whole(w) for w in bridge])
    if any(w is not None and w.control_us is not None for w in bridge):
        line("whole without py-spy (the same load just before)", [_control(w) for w in bridge])
    for stage in (HTTP, LOOP, OTHER):
        line(f"ceiling A: {stage}", [_cell(w, stage) for w in ceiling])
    line("**whole: ceiling A (= sum)**", [whole(w) for w in ceiling])
    if any(w is not None and w.control_us is not None for w in ceiling):
        line("ceiling A: whole without py-spy", [_control(w) for w in ceiling])
    for name, group in (("bridge", bridge), ("ceiling A", ceiling)):
        line(
            f"{name}: callbacks/s · running samples (py-spy errors)",
            [
                f"{w.requests / w.load_s:,.0f} · {w.stages['samples']} ({w.pyspy_errors}){_errors(w)}" if w else "-"
                for w in group
            ],
        )
        line(
            f"{name}: check, sampled running time / CPU in py-spy's window (/proc)",
            [
                f"{w.sampled_s:.2f} s / {w.cpu_window_s:.2f} s = **{w.sampled_s / w.cpu_window_s:.2f}**"
                if w and w.cpu_window_s
                else "-"
                for w in group
            ],
        )
        line(f"{name}: the server's core during the load", [_core(w.core_pct) if w else "-" for w in group])
        line(
            f"{name}: sampled running time / load duration",
            [
                f"{w.sampled_s:.2f} s / {w.load_s:.2f} s = {w.sampled_s / w.load_s:.2f}" if w and w.load_s else "-"
                for w in group
            ],
        )
    first = next(w for w in windows)
    mode = "non-blocking" if first.nonblocking else "blocking"
    out += ["", f"py-spy {first.rate} Hz, {mode}, {first.seconds} s of load per body and server at c={CONCURRENCY}."]
    lines = []
    for w in windows:
        others = w.stages["rows"][OTHER]["top"][:top]
        if others:
            lines.append(f"* {w.target} {w.kind}: " + "; ".join(f"`{f}` {n}" for f, n in others))
    if lines:
        out += ["", 'Frames behind the samples in "other" (an unnamed bridge frame, else the innermost):', "", *lines]
    return "\n".join(out)


def deciding(windows: Sequence[Window], top: int = 3) -> str:
    """Per bridge column and stage, the frames that decided the most samples (to audit the rules)."""
    out = ["| stage | " + " | ".join(f"{w.target} {w.kind}" for w in windows) + " |", "|---|" + "---|" * len(windows)]
    for stage in STAGES:
        cells = [
            "<br>".join(f"`{f.split(' (')[0]}` {n}" for f, n in w.stages["rows"][stage]["top"][:top]) for w in windows
        ]
        out.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# --- the session ----------------------------------------------------------------------------------------


def session(o: argparse.Namespace, workdir: Path, stamp: str) -> tuple[list[Window], dict[str, Any]]:
    options = Options(
        runs=1, duration=o.seconds, concurrency=[CONCURRENCY], tool=o.loadgen, corpus_rate=o.corpus_rate,
        phases=["stages"], profile_seconds=o.seconds, startup_samples=0, keep_logs=o.keep_logs, candidate=None,
        spool_dir=None, memory_callbacks=0,
    )  # fmt: skip
    bench = Bench(options, workdir)
    windows: list[Window] = []
    load_before = os.getloadavg()
    try:
        os.sched_setaffinity(0, LOAD_CORE)  # what this process starts inherits core 0
        bench.broker.start()
        broker_pid = bench.broker.process.pid  # type: ignore[union-attr]
        bench.broker.create_topics(TOPICS)
        bench.write_config()
        bench.meter = Meter(options.tool, options.duration, workdir, broker_pid, bench.config)
        servers: dict[str, Server] = {}
        for target in ("ceiling_a", "bridge"):
            if target in o.targets:
                made = bench._bridge() if target == "bridge" else bench._uvicorn("ceiling-a", CEILING_FACTORY, 1)
                servers[target] = bench.start(made, SERVER_CORE)
        bench.warm_up(*servers.values())
        for kind in o.kinds:
            for target, server in servers.items():
                windows.append(record(bench, server, target, kind, o, stamp))
    finally:
        bench.stop_all()
    env = environment(options.tool, load_before, os.getloadavg(), 0.0, workdir)
    return windows, env


def save(windows: Sequence[Window], env: dict[str, Any], o: argparse.Namespace, stamp: str) -> tuple[Path, str]:
    text = markdown(windows)
    report = {
        "stamp": stamp,
        "options": {k: str(v) for k, v in vars(o).items()},
        "environment": env,
        "windows": [asdict(w) | {"us_per_callback": w.us_per_callback, "sampled_s": w.sampled_s} for w in windows],
        "table": text,
    }
    path = RESULTS / f"{stamp}-stages.json"
    path.write_text(json.dumps(report, indent=1, default=str), "utf-8")
    audit = deciding([w for w in windows if w.target == "bridge"] or windows)
    md = f"# Stage budget, session {stamp}\n\n{text}\n\nFrames that decided each row (samples):\n\n{audit}\n"
    path.with_suffix(".md").write_text(md, "utf-8")
    return path, text


def reattribute(path: Path) -> list[Window]:
    """The windows of a saved session, attributed again (current rules) from their raw files."""
    report = json.loads(path.read_text("utf-8"))
    names = {f.name for f in fields(Window)}
    windows = [Window(**{k: v for k, v in w.items() if k in names}) for w in report["windows"]]
    for window in windows:
        attribute(window, path.parent)
    return windows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.stage_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=6, help="seconds of load per body and server")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--nonblocking", action="store_true", help="py-spy --nonblocking (torn stacks; see above)")
    parser.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="skip the run without py-spy before each profiled one (what py-spy's stops cost the server)",
    )
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--targets", default="ceiling_a,bridge")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--corpus-rate", type=int, default=12_000, help="distinct NxCloud callbacks per second of load")
    parser.add_argument("--keep-logs", action="store_true", help="keep the working directory (logs, config)")
    parser.add_argument("--reattribute", type=Path, help="a saved <stamp>-stages.json: its table with today's rules")
    o = parser.parse_args(argv)
    o.kinds = [k for k in o.kinds.split(",") if k]
    o.targets = [t for t in o.targets.split(",") if t]
    if set(o.kinds) - set(KINDS) or set(o.targets) - {"ceiling_a", "bridge"}:
        parser.error(f"--kinds from {','.join(KINDS)}; --targets from ceiling_a,bridge")
    o.loadgen = ("wrk" if have_wrk() else "python") if o.loadgen == "auto" else o.loadgen
    return o


def main(argv: Sequence[str] | None = None) -> int:
    o = parse_args(argv)
    if o.reattribute is not None:
        print(markdown(reattribute(o.reattribute)))
        return 0
    if pyspy.py_spy() is None:
        print("py-spy is not installed (pip install -e '.[bench]')", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = Path(tempfile.mkdtemp(prefix="sms-bridge-stages-"))
    print(
        f"py-spy {o.rate} Hz ({'non-blocking' if o.nonblocking else 'blocking'}), {o.seconds} s per body and "
        f"server, c={CONCURRENCY}, load generator {o.loadgen}; workdir {workdir}",
        flush=True,
    )
    try:
        windows, env = session(o, workdir, stamp)
    finally:
        if not o.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
    path, text = save(windows, env, o, stamp)
    print()
    print(text)
    print(f"\nresults: {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
