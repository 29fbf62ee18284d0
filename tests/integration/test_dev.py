"""`bridge dev` end to end: the quick start's first command, as a user runs it."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from bridge.cli.dev_broker import free_port
from bridge.providers import PROVIDERS
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def start_dev(argv: list[str], out: Path) -> subprocess.Popen[bytes]:
    """`sms-bridge dev` in a session of its own, so that stop_dev can kill its broker with it."""
    with open(out, "wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "bridge", "dev", *argv], stdout=sink, stderr=subprocess.STDOUT,
                                cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)


def stop_dev(dev: subprocess.Popen[bytes]) -> None:
    """Whatever happened: kill what is left of dev's process group (dev, its broker) and reap dev."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(dev.pid, signal.SIGKILL)
    dev.wait()


def interrupted(dev: subprocess.Popen[bytes], out: Path) -> int:
    """Ctrl-C: the exit code, with a generous deadline for a loaded machine."""
    dev.send_signal(signal.SIGINT)
    try:
        return dev.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"dev ignored SIGINT for 60 s:\n{out.read_text()[-3000:]}") from None


def wait_for(path: Path, pattern: str, timeout: float = 60.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, path.read_text("utf-8", "replace"))
        if match:
            return match
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not printed within {timeout} s:\n{path.read_text()[-3000:]}")


def test_dev_prints_its_banner_when_ready_and_every_printed_command_works_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "dev.out"
    dev = start_dev(["--port", str(port)], out)
    try:
        broker = wait_for(out, r"broker on (127\.0\.0\.1:\d+)").group(1)
        wait_for(out, r"Ctrl-C stops")
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200  # the banner comes once ready

        # the ready-to-paste curl with the seed's sample
        curl = wait_for(out, r"(curl -sS -X POST .*\\\n\s+-d .*)\n").group(1).replace("\\\n", " ")
        argv = shlex.split(curl)
        url, body = argv[4], argv[argv.index("-d") + 1]
        reply = httpx.post(url, content=body.encode(), headers={"content-type": "application/json"})
        assert reply.json() == {"result": 0, "errmsg": "OK"}
        sid = orjson.loads(body)[0]["sid"]
        wait_for(out, rf"\[sms\.delivery-receipts\] sms\.delivery_receipt id=\w+ key={re.escape(sid)}")

        # every printed `sms-bridge send` line: one per sample of every registered kind, run as printed from a
        # shell whose PATH lacks the venv (a newcomer who did not activate it)
        commands = re.findall(r"^  (\S*sms-bridge send \S+ --action \S+ --url \S+)", out.read_text(), re.M)
        expected = {(cls.kind, sample.name) for cls in PROVIDERS.values() for sample in cls.samples}
        assert {(c.split()[2].removesuffix("-dev"), c.split()[4]) for c in commands} == expected
        bare = {**os.environ, "PATH": os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                                                      if d and d != os.path.dirname(os.path.abspath(sys.executable)))}
        for command in commands:
            sent = subprocess.run(command, shell=True, capture_output=True,  # through a shell, as pasted
                                  text=True, timeout=30, cwd=ROOT, env=bare)
            assert sent.returncode == 0 and re.match(r"HTTP 20[0-4]\b", sent.stdout), (command, sent.stdout,
                                                                                       sent.stderr)
        printed = out.read_text()
        for topic, event_type in (("sms.delivery-receipts", "delivery_receipt"), ("sms.inbound-messages",
                                                                               "inbound_message")):
            wait_for(out, rf"\[{re.escape(topic)}\] sms\.{event_type}")
        assert "Traceback" not in printed

        assert interrupted(dev, out) == 0
        assert "stopped the bridge and the broker" in out.read_text()
        host, broker_port = broker.split(":")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)
        with pytest.raises(OSError), socket.create_connection((host, int(broker_port)), timeout=2):
            pass
    finally:
        stop_dev(dev)


def test_dev_with_8080_taken_names_the_port_it_took_and_serves_there(tmp_path: Path) -> None:
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8080))
        holder.listen()
    except OSError:  # something else holds 8080: the situation under test already
        holder.close()
    out = tmp_path / "dev.out"
    dev = start_dev([], out)
    try:
        port = int(wait_for(out, r"\(port 8080 is in use, so it took (\d+)\)").group(1))
        wait_for(out, r"Ctrl-C stops")
        assert port != 8080 and httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        assert f"--url http://127.0.0.1:{port}" in out.read_text()  # the printed commands use it
        assert interrupted(dev, out) == 0
    finally:
        stop_dev(dev)
        holder.close()
    assert "Traceback" not in out.read_text()
