"""A local S3-compatible object store (moto_server) so Tansu can run its durable `s3://` engine.

With `--storage-engine s3://<bucket>/` an acknowledgement waits for the object store, and the
records survive a broker SIGKILL and restart (the memory engine loses them).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from bridge.cli.dev_broker import EmbeddedBroker, free_port


def moto_server_binary() -> str:
    """`moto_server` from the `moto[server]` package, next to this interpreter or on PATH."""
    beside = Path(sys.executable).with_name("moto_server")
    if beside.exists():
        return str(beside)
    found = shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server not found: pip install 'moto[server]'")
    return found


class ObjectStore:
    """moto_server on a free loopback port. Each broker gets a bucket of its own."""

    def __init__(self, log_file: Path | None = None) -> None:
        self.port = free_port()
        self._log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ObjectStore:
        out = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [moto_server_binary(), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
            )
        finally:
            if not isinstance(out, int):
                out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer within {timeout} s")

    def create_bucket(self) -> str:
        """A new, empty bucket (an HTTP PUT /<bucket>)."""
        bucket = f"tansu-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as reply:
            if reply.status != 200:
                raise RuntimeError(f"cannot create bucket: HTTP {reply.status}")
        return bucket

    def broker(
        self, log_file: Path | None = None, port: int | None = None, advertised: str | None = None
    ) -> EmbeddedBroker:
        """A (not yet started) Tansu broker that stores its records in a new bucket here."""
        env = {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",  # any value: moto does not check it
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        bucket = self.create_bucket()
        return EmbeddedBroker(port, log_file=log_file, advertised=advertised, storage_engine=f"s3://{bucket}/", env=env)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
