"""`bridge dev` end to end: the quick start's first command, as a user runs it."""

from __future__ import annotations

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

from bridge.broker import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def wait_for(path: Path, pattern: str, timeout: float = 30.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, path.read_text("utf-8", "replace"))
        if match:
            return match
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not printed within {timeout} s:\n{path.read_text()[-3000:]}")


def test_bridge_dev_prints_urls_takes_the_seed_curl_and_signed_sends_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "dev.out"
    with open(out, "wb") as sink:
        dev = subprocess.Popen([sys.executable, "-m", "bridge", "dev", "--port", str(port)], stdout=sink,
                               stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        broker = wait_for(out, r"broker on (127\.0\.0\.1:\d+)").group(1)
        wait_for(out, r"Ctrl-C stops")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)

        # the ready-to-paste curl with the seed's sample
        curl = wait_for(out, r"(curl -sS -X POST .*\\\n\s+-d .*)\n").group(1).replace("\\\n", " ")
        argv = shlex.split(curl)
        url, body = argv[4], argv[argv.index("-d") + 1]
        reply = httpx.post(url, content=body.encode(), headers={"content-type": "application/json"})
        assert reply.json() == {"result": 0, "errmsg": "OK"}
        sid = orjson.loads(body)[0]["sid"]
        wait_for(out, rf"\[sms\.delivery-receipts\] sms\.delivery_receipt id=\w+ key={re.escape(sid)}")

        # the printed `bridge send` commands for a signed dr and a signed mo
        for action, topic in (("dr", "sms.delivery-receipts"), ("mo", "sms.inbound-messages")):
            command = wait_for(out, rf"(bridge send nxcloud \S+ --access-key \S+ --secret \S+ --action {action})").group(1)
            sent = subprocess.run([sys.executable, "-m", "bridge", *shlex.split(command)[1:]], capture_output=True,
                                  text=True, timeout=30, cwd=ROOT)
            assert sent.returncode == 0 and sent.stdout.split() == ["HTTP", "200", "success"], sent.stdout
            wait_for(out, rf"\[{re.escape(topic)}\] sms\.{'delivery_receipt' if action == 'dr' else 'inbound_message'}")

        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=20) == 0
        assert "stopped the bridge and the broker" in out.read_text()
        host, broker_port = broker.split(":")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)
        with pytest.raises(OSError), socket.create_connection((host, int(broker_port)), timeout=2):
            pass
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
