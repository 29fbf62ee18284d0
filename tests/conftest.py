"""Shared fixtures: clock, registry, settings, seed payloads, and the real broker and server."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from bridge.cli.dev_broker import EmbeddedBroker, free_port
from bridge.clock import FixedClock
from bridge.config import Settings, parse

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent

# 2021-02-07 06:54:00 UTC = the seeds' "2021-02-07 14:54:00" in UTC+8.
SEED_EPOCH = 1612680840.0
TENCENT_TOKEN = "test-tencent-token-0123456789abcdef"
NX_ACCESS_KEY = "kGp5uFHN"
NX_SECRET = "abciiiko2k3"
NX_OTHER_KEY = "fme2na3kdi3ki"
NX_OTHER_SECRET = "other-secret-xyz"
TOPICS = ("sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(SEED_EPOCH)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def require_tool(name: str, package: str) -> str:
    """The path of an external program the test needs: skipped where it is missing, except in CI
    (`SMS_BRIDGE_REQUIRE_TOOLS=1`, set by .ci/run), where a missing tool fails the test."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not on PATH (Debian package `{package}`)"
        if os.environ.get("SMS_BRIDGE_REQUIRE_TOOLS") == "1":
            pytest.fail(message + ", and CI requires it")
        pytest.skip(message)
    return found


def require_sdk(module: str, package: str) -> ModuleType:
    """A provider's official SDK module, a judge in tests/unit/providers/test_sdk_judges.py: skipped where it
    is not installed, except in CI (`SMS_BRIDGE_REQUIRE_TOOLS=1`), where a missing SDK fails the test.
    The SDKs come with the `judges` extra, which `dev` includes."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} cannot be imported ({exc}; PyPI package `{package}`, extra `judges`)"
        if os.environ.get("SMS_BRIDGE_REQUIRE_TOOLS") == "1":
            pytest.fail(message + ", and CI requires it")
        pytest.skip(message)


def fixture_bytes(kind: str, name: str) -> bytes:
    """A provider payload from tests/fixtures/<kind>/<name>, byte for byte."""
    return (FIXTURES / kind / name).read_bytes()


def config_dict(bootstrap: str = "127.0.0.1:9", **server: Any) -> dict[str, Any]:
    """A valid configuration as a dict: one Tencent and one NxCloud instance."""
    return {
        "server": {"host": "127.0.0.1", "port": 8080, "graceful_shutdown_seconds": 5, **server},
        "kafka": {"bootstrap_servers": [bootstrap], "enable_idempotence": False, "produce_timeout_seconds": 3},
        "providers": [
            {
                "kind": "tencent",
                "name": "tencent-test",
                "path": "/callbacks/tencent/test",
                "source": "/sms/tencent/1400000000",
                "url_token": TENCENT_TOKEN,
            },
            {
                "kind": "nxcloud",
                "name": "nxcloud-test",
                "path": "/callbacks/nxcloud/test",
                "source": f"/sms/nxcloud/{NX_ACCESS_KEY}",
                "access_keys": [
                    {"access_key": NX_ACCESS_KEY, "secret": NX_SECRET},
                    {"access_key": NX_OTHER_KEY, "secret": NX_OTHER_SECRET},
                ],
            },
        ],
    }


def make_settings(document: dict[str, Any] | None = None) -> Settings:
    return parse(yaml.safe_dump(document or config_dict()), {})


@pytest.fixture
def settings() -> Settings:
    return make_settings()


# --- the real broker and a real server process ------------------------------------------------


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the session, with the bridge's topics."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as running:
        running.create_topics(TOPICS)
        yield running


class BridgeProcess:
    """`python -m bridge serve` in a child process on a free loopback port."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.port = free_port()
        self.config_path = workdir / f"bridge-{self.port}.yaml"
        config["server"]["port"] = self.port
        self.config_path.write_text(yaml.safe_dump(config), "utf-8")
        self.log_path = workdir / f"bridge-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> BridgeProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        path = "/readyz" if wait_ready else "/livez"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"bridge not ready within {timeout} s: {self.log_path.read_text()[-2000:]}")

    def stop(self, timeout: float = 20.0) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def logs(self) -> str:
        return self.log_path.read_text("utf-8", "replace")


@pytest.fixture
def bridge_process(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], BridgeProcess]]:
    """Start bridge processes with a given configuration; all are stopped afterwards."""
    started: list[BridgeProcess] = []

    def start(config: dict[str, Any], wait_ready: bool = True) -> BridgeProcess:
        process = BridgeProcess(config, tmp_path).start(wait_ready=wait_ready)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()



# --- hypothesis -----------------------------------------------------------------------------------
# Hypothesis keeps its example database and caches in `./.hypothesis`, and writes there while
# test modules are collected. With `norecursedirs` replaced and warnings as errors, that
# directory breaks the next collection, so it lives in the system temp directory instead
# (still shared between runs, so failing examples replay).
import tempfile  # noqa: E402

import hypothesis.configuration  # noqa: E402

hypothesis.configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "sms-bridge-hypothesis")
