"""Profiling the bridge under load with py-spy, and summarising where the time goes.

`record()` samples a running process (`py-spy record --format raw`: collapsed stacks, one
`frame;frame;...;frame count` line per distinct stack, idle samples left out, so percentages
are of the time the process was busy in Python or in C code that Python called).
`summarise()` turns that file into three views:
* self time by package (the package of the innermost Python frame; time in C extensions such
  as httptools, uvloop, orjson or hashlib counts for the Python function that called them),
* the functions with the most self time,
* the functions with the most inclusive time (on the stack), leaving out the entry frames
  present in nearly every sample (the event loop's run and its callers).

`python -m tests.bench.pyspy PROFILE.txt` prints the summary of a recorded file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")
ENTRY_SHARE = 0.97  # frames on this share of all stacks are the entry chain, not interesting
# With uvloop the event loop is C code called from asyncio.Runner.run: samples whose innermost
# Python frame is Runner.run are the loop's own work (epoll, socket reads and writes, callbacks).
LOOP_FRAME = "Runner.run (asyncio/runners.py)"
LOOP_PACKAGE = "event loop (uvloop, C)"


def py_spy() -> str | None:
    """The py-spy executable: next to this interpreter (the venv), else on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pid: int, seconds: int, out: Path, rate: int = 200) -> subprocess.CompletedProcess[str]:
    """Sample `pid` for `seconds` into `out` (raw collapsed stacks)."""
    executable = py_spy()
    if executable is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    command = [
        executable, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate),
        "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)


@dataclass
class Profile:
    """The aggregated samples of one py-spy raw file."""

    samples: int = 0
    self_by_function: Counter[str] = field(default_factory=Counter)
    self_by_package: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    def share(self, count: int) -> float:
        return 100.0 * count / self.samples if self.samples else 0.0


def _function(frame: str) -> tuple[str, str]:
    """(`function (file)`, package) of one py-spy frame `function (file:line)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "?"
    file = match["file"]
    parts = file.replace("\\", "/").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    package = parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")
    return f"{match['name']} ({'/'.join(parts)})", package


def parse(path: Path) -> Profile:
    profile = Profile()
    for line in path.read_text("utf-8", "replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        profile.samples += count
        functions = [_function(f) for f in frames]
        leaf, package = functions[-1]
        if leaf == LOOP_FRAME:
            leaf, package = f"{LOOP_PACKAGE}: {LOOP_FRAME}", LOOP_PACKAGE
        profile.self_by_function[leaf] += count
        profile.self_by_package[package] += count
        for name in {name for name, _ in functions}:
            profile.inclusive[name] += count
    return profile


def summarise(path: Path, top: int = 15) -> dict[str, object]:
    """The three views as JSON-ready data (percentages of busy samples)."""
    profile = parse(path)
    entry = {name for name, n in profile.inclusive.items() if n >= ENTRY_SHARE * profile.samples}
    return {
        "file": path.name,
        "samples": profile.samples,
        "self_by_package": [(p, round(profile.share(n), 1)) for p, n in profile.self_by_package.most_common()],
        "self_top": [(f, round(profile.share(n), 1)) for f, n in profile.self_by_function.most_common(top)],
        "inclusive_top": [
            (f, round(profile.share(n), 1)) for f, n in profile.inclusive.most_common() if f not in entry
        ][: top + 10],
    }


def markdown(summary: dict[str, object]) -> str:
    """The summary as markdown lists."""
    lines = [f"Profile `{summary['file']}`: {summary['samples']} busy samples.", ""]
    packages = summary["self_by_package"]
    assert isinstance(packages, list)
    lines.append("Self time by package: " + ", ".join(f"{p} {s} %" for p, s in packages if s >= 0.5) + ".")
    lines += ["", "| self % | function (file) |", "|---:|---|"]
    self_top = summary["self_top"]
    assert isinstance(self_top, list)
    lines += [f"| {s} | `{f}` |" for f, s in self_top]
    lines += ["", "| inclusive % | function (file) |", "|---:|---|"]
    inclusive_top = summary["inclusive_top"]
    assert isinstance(inclusive_top, list)
    lines += [f"| {s} | `{f}` |" for f, s in inclusive_top]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m tests.bench.pyspy PROFILE.txt [TOP]", file=sys.stderr)
        return 2
    print(markdown(summarise(Path(args[0]), int(args[1]) if len(args) > 1 else 15)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
