"""Which stage of the bridge a py-spy sample belongs to: the attribution rules of stage_profile.py.

A sample is one Python stack (py-spy's frames `function (file:line)`, outermost first, file
names shortened to the package path as py-spy prints them: `bridge/http/guard.py`,
`uvicorn/protocols/http/httptools_impl.py`, `asyncio/runners.py`). Each sample goes to exactly
one stage, so the stages' shares add up to 1 by construction:

1. The frames from the event loop's run outward (`Runner.run` and its callers: `bridge serve`,
   uvicorn's `Server.run`) are the entry chain of every sample and decide nothing; only the
   frames the loop called count. A stack with nothing inside the loop but asyncio/uvloop frames
   (or no frame at all) is **event loop**: uvloop's C work (epoll, socket reads and writes, the
   ready queue, task steps) is charged to `Runner.run`, the innermost Python frame.
2. Walking from the innermost frame outward, the first frame a rule maps decides. Rules go by
   module path (a file, or a package prefix); by function name only within a module that holds
   more than one stage. Frames no rule maps (the standard library, `<string>` frames of
   dataclasses and named tuples, other third-party packages, `bridge/clock.py`,
   `bridge/errors.py`) are transparent: their caller decides. A bridge module no rule names is
   "other" (not its caller's stage), so a module new to the hot path shows up by name. C code
   (orjson, hashlib, httptools' parser, uvloop) has no frame of its own: it is charged to the
   Python frame that called it.
3. A provider's module (`bridge/providers/<kind>.py`, `common.py`, `reports.py`, ...) holds
   verification and parsing: its frames go to the stage of the provider method the pipeline
   called (the outermost frame in `bridge/providers/` before the adapter): verify, restore,
   prepare -> verification; parse -> parsing; accepted, rejected, handshake -> glue (the
   reply, the handshake). Only a stack cut short before that frame falls back to the innermost provider
   frame's name (verify/restore/sign*/secret/nonce/token/credential... -> verification, else
   parsing). Signature modules (`*_signature.py`, `verification.py`, `schemes.py`) are
   verification whoever calls them.
4. `logging` frames belong to the frame that logs: a third-party package's debug calls are
   that package's cost; called from the bridge (or alone), they are the **log line**.
5. A stack with frames inside the loop but none mapped, or decided by an unnamed bridge
   module, is **other**; the deciding (or innermost) frames are listed so a reader can see what
   it is.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

HTTP: Final = "HTTP parse and reply"
SHARED: Final = "shared checks"
VERIFY: Final = "verification"
PARSE: Final = "parsing"
PHONES: Final = "phone numbers"
EVENT: Final = "event and envelope"
GROUP: Final = "partitioning and group commit"
KAFKA: Final = "aiokafka append/send/ack"
METRICS: Final = "metrics"
LOG: Final = "log line"
DEADLINES: Final = "deadlines"
GLUE: Final = "glue (endpoint, pipeline, intake)"
LOOP: Final = "event loop"
OTHER: Final = "other"
STAGES: Final = (HTTP, SHARED, VERIFY, PARSE, PHONES, EVENT, GROUP, KAFKA, METRICS, LOG, DEADLINES, GLUE, LOOP, OTHER)

# Markers of frames whose stage is resolved by their callers (rules 3 and 4).
PROVIDER: Final = "<provider: the stage of the method called>"
LOGGING: Final = "<logging: the stage of the frame that logs>"


@dataclass(frozen=True)
class Rule:
    """Frames of `where` (a module path, a package prefix ending in "/", or an fnmatch pattern)
    belong to `stage` (None: transparent, the caller decides), unless their function's name (the
    last dotted part, `CallbackEndpoint._fields` -> `_fields`) is in `functions`. `library`: a
    third-party package (its own `logging` calls are its cost, not the log line)."""

    where: str
    stage: str | None
    functions: Mapping[str, str | None] = field(default_factory=dict)
    library: bool = False

    def matches(self, path: str) -> bool:
        if self.where.endswith("/"):
            return path.startswith(self.where)
        if "*" in self.where:
            return fnmatch.fnmatchcase(path, self.where)
        return path == self.where

    def stage_of(self, function: str) -> str | None:
        name = function.rsplit(".", 1)[-1]
        return self.functions.get(name, self.stage)


# First match wins: files before the package prefix that contains them.
RULES: Final[tuple[Rule, ...]] = (
    # HTTP parse and reply: what ceiling A pays too.
    *(Rule(p, HTTP, library=True) for p in ("uvicorn/", "httptools/", "h11/", "starlette/", "anyio/")),
    Rule("bridge/http/app.py", HTTP),  # the ASGI entry: BridgeApp (and its drain header), the 404 app
    Rule("bridge/cli/serve.py", HTTP),  # the server around the app
    Rule("tests/bench/apps.py", HTTP),  # ceiling A's bare endpoint (read, orjson/parse_qsl, reply)
    Rule("bridge/http/intake.py", GLUE, {"read_body": HTTP, "send_reply": HTTP}),
    Rule("bridge/http/endpoint.py", GLUE, {"_fields": LOG, "masked_parties": LOG}),
    Rule("bridge/http/pipeline.py", GLUE),
    Rule("bridge/http/lifecycle.py", GLUE),
    Rule("bridge/http/guard.py", SHARED),
    Rule("bridge/http/replay_cache.py", SHARED),
    Rule("bridge/http/deadlines.py", DEADLINES),
    Rule("bridge/http/accepted_log.py", LOG),
    Rule("bridge/logs.py", LOG),
    Rule("bridge/redact.py", None, {"mask_phone": LOG}),  # Secret's methods: whoever reveals it
    # Providers.
    Rule("bridge/providers/adapter.py", GLUE),
    Rule("bridge/providers/verification.py", VERIFY),
    Rule("bridge/providers/schemes.py", VERIFY),
    Rule("bridge/providers/*_signature.py", VERIFY),
    Rule("bridge/providers/base.py", PROVIDER, {"phone": PHONES}),
    Rule("bridge/providers/", PROVIDER),
    Rule("bridge/phones.py", PHONES),
    Rule("phonenumbers/", PHONES, library=True),
    # Events and Kafka.
    Rule("bridge/events.py", EVENT),
    Rule("bridge/kafka/envelope.py", EVENT),
    Rule("bridge/kafka/dead_letters.py", EVENT),
    Rule("bridge/kafka/", GROUP),  # publisher.py, group_commit.py (murmur2 partitioning), link.py
    *(Rule(p, KAFKA, library=True) for p in ("aiokafka/", "kafka/", "async_timeout/")),
    Rule("asyncio/streams.py", KAFKA),  # aiokafka's connection is the only asyncio-streams user under `serve`
    Rule("bridge/metrics.py", METRICS),
    Rule("bridge/spool/metrics.py", METRICS),
    Rule("prometheus_client/", METRICS, library=True),
    Rule("logging/", LOGGING),
    # The bridge's helpers that belong to whoever calls them; any other bridge module is "other"
    # until a rule names its stage (a module new to the hot path shows there, by name).
    Rule("bridge/clock.py", None),
    Rule("bridge/errors.py", None),
    Rule("bridge/", OTHER),
)

# The event loop's run: frames from the innermost of these outward are the entry chain.
LOOP_RUN: Final[Mapping[str, frozenset[str] | None]] = {
    "asyncio/runners.py": None,  # any function
    "uvloop/__init__.py": None,
    "asyncio/base_events.py": frozenset({"run_forever", "run_until_complete", "_run_once"}),
    "asyncio/events.py": frozenset({"_run"}),  # Handle._run: a callback of the pure-Python loop
}
# A stack inside the loop with only these is the loop's own work (asyncio keeps its tasks in a
# WeakSet: a finished task's removal runs as a weakref callback).
LOOP_MODULES: Final = ("asyncio/", "uvloop/", "selectors.py", "contextvars", "_weakrefset.py")

# Provider methods (bridge.providers.base.Provider) as the pipeline calls them, and their stage.
PROVIDER_ENTRIES: Final[Mapping[str, str]] = {
    "verify": VERIFY, "restore": VERIFY, "prepare": VERIFY, "sign": VERIFY,
    "parse": PARSE,
    "accepted": GLUE, "rejected": GLUE, "handshake": GLUE, "signs_time": GLUE, "secret_params": GLUE,
    "__init__": GLUE,
}  # fmt: skip
VERIFY_NAMES: Final = re.compile(r"verif|restore|sign(?!s_time)|secret|nonce|authenticat|credential|token|_expected$")

_FRAME: Final = re.compile(r"^(?P<name>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class Frame:
    function: str
    path: str

    def __str__(self) -> str:
        return f"{self.function} ({self.path})"


def frame(text: str) -> Frame:
    """One py-spy frame, `function (file:line)`; a path under site-packages loses that prefix."""
    match = _FRAME.match(text.strip())
    if match is None:
        return Frame(text.strip(), "?")
    path = match["file"].replace("\\", "/")
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return Frame(match["name"], path)


def read_raw(path: Path) -> Iterator[tuple[list[Frame], int]]:
    """The stacks of a `py-spy record --format raw` file (outermost frame first) with their counts."""
    for line in path.read_text("utf-8", "replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        texts = [f for f in stack.split(";") if f.strip() and not f.startswith(("process ", "thread "))]
        yield [frame(t) for t in texts], int(count)


def rule_for(f: Frame) -> Rule | None:
    return next((rule for rule in RULES if rule.matches(f.path)), None)


def _loop_run(f: Frame) -> bool:
    if f.path not in LOOP_RUN:
        return False
    names = LOOP_RUN[f.path]
    return names is None or f.function.rsplit(".", 1)[-1] in names


def _provider_stage(inner: Sequence[Frame], start: int) -> str:
    """Rule 3: `inner` is innermost first; `inner[start]` is a provider frame."""
    entry = inner[start]
    for f in inner[start + 1 :]:
        rule = rule_for(f)
        stage = rule.stage_of(f.function) if rule is not None else None
        if stage is None:
            continue  # transparent (stdlib, <string>): keep looking
        if stage != PROVIDER:
            break  # the caller: adapter, pipeline
        entry = f
    name = entry.function.rsplit(".", 1)[-1]
    if name in PROVIDER_ENTRIES:
        return PROVIDER_ENTRIES[name]
    name = inner[start].function.rsplit(".", 1)[-1]
    return VERIFY if VERIFY_NAMES.search(name) else PARSE


def attribute(stack: Sequence[Frame]) -> tuple[str, Frame | None]:
    """The stage of one sample (frames outermost first) and the frame that decided it (None for
    the event loop; for "other", the innermost frame)."""
    start = max((i + 1 for i, f in enumerate(stack) if _loop_run(f)), default=0)
    inner = list(reversed(stack[start:]))  # innermost first, the entry chain left out
    logging_frame: Frame | None = None
    for i, f in enumerate(inner):
        rule = rule_for(f)
        if rule is None:
            continue
        stage = rule.stage_of(f.function)
        if stage is None:
            continue
        if stage == LOGGING:
            logging_frame = logging_frame or f
            continue
        if logging_frame is not None and not rule.library:
            return LOG, logging_frame  # the bridge logging: its log line
        if stage == PROVIDER:
            return _provider_stage(inner, i), f
        return stage, f
    if logging_frame is not None:
        return LOG, logging_frame
    if all(f.path.startswith(LOOP_MODULES) for f in inner):
        return LOOP, None
    return OTHER, inner[0]


@dataclass
class Attribution:
    """Samples per stage, with the frames that decided them (for "other": the innermost frame)."""

    samples: int = 0
    by_stage: Counter[str] = field(default_factory=Counter)
    deciding: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, stack: Sequence[Frame], count: int) -> None:
        stage, decided_by = attribute(stack)
        self.samples += count
        self.by_stage[stage] += count
        self.deciding.setdefault(stage, Counter())[str(decided_by) if decided_by else "(loop)"] += count

    def share(self, stage: str) -> float:
        return self.by_stage[stage] / self.samples if self.samples else 0.0

    def error(self, stage: str) -> float:
        """One standard deviation of the share (binomial: samples taken 5 ms apart, a callback
        lasting well under that, are taken as independent)."""
        p = self.share(stage)
        return math.sqrt(p * (1.0 - p) / self.samples) if self.samples else 0.0

    def top(self, stage: str, n: int = 5) -> list[tuple[str, int]]:
        return self.deciding.get(stage, Counter()).most_common(n)


def attribute_file(path: Path) -> Attribution:
    result = Attribution()
    for stack, count in read_raw(path):
        result.add(stack, count)
    return result


def attribute_stacks(stacks: Iterable[tuple[Sequence[Frame], int]]) -> Attribution:
    result = Attribution()
    for stack, count in stacks:
        result.add(stack, count)
    return result
