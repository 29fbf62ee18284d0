"""Operability against a real server process: scrape, secrets in logs, SIGTERM under load."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid

import httpx
import orjson
import pytest

from tests.conftest import NX_ACCESS_KEY, NX_OTHER_SECRET, NX_SECRET, TENCENT_TOKEN, config_dict, require_tool
from tests.helpers import nxcloud_request
from tests.integration.kafka import read_sync
from tests.integration.test_end_to_end import DR, MO, nx_body, nxcloud_url, post_nx, tencent_url

pytestmark = pytest.mark.integration


def test_a_live_scrape_passes_promtool(broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    promtool = require_tool("promtool", "prometheus")
    bridge = bridge_process(config_dict(broker.bootstrap))
    post_nx(bridge, "dr", nx_body("dr", uuid.uuid4().hex))
    httpx.post(f"{bridge.url}/callbacks/tencent/test/not-the-token-0123456789", content=b"[]")
    scrape = httpx.get(bridge.url + "/metrics")
    assert scrape.status_code == 200
    assert "sms_bridge_callbacks_total" in scrape.text
    result = subprocess.run([promtool, "check", "metrics"], input=scrape.content, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_secrets_phone_numbers_and_text_never_appear_in_logs_or_metrics(broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    config = config_dict(broker.bootstrap)
    config["logging"] = {"level": "debug"}
    bridge = bridge_process(config)
    phone, text = "8613912345678", "my very private message 0042"
    # accepted, replayed, tampered, malformed and unknown-key NxCloud callbacks
    body = nx_body("mo", uuid.uuid4().hex, fromPhone=phone, content=text)
    request = nxcloud_request(nxcloud_url(bridge), body, access_key=NX_ACCESS_KEY, secret=NX_SECRET, action="mo")
    assert httpx.post(request.url, content=body, headers=request.headers).text == "success"
    httpx.post(request.url, content=body, headers=request.headers)
    httpx.post(request.url, content=body + b" ", headers=request.headers)
    post_nx(bridge, "dr", b'{"content": "' + text.encode() + b'", ')
    # Tencent: right token, token in the query, malformed body with the token
    report = [{"user_receive_time": "2026-01-01 00:00:00", "nationcode": "86", "mobile": phone[2:],
               "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "", "sid": uuid.uuid4().hex}]
    assert httpx.post(tencent_url(bridge), content=orjson.dumps(report)).status_code == 200
    httpx.post(f"{bridge.url}/callbacks/tencent/test?token={TENCENT_TOKEN}", content=b"{not json")
    httpx.get(tencent_url(bridge))
    httpx.post(f"{bridge.url}/callbacks/tencent/test/{TENCENT_TOKEN}/extra", content=b"[]")
    scrape = httpx.get(bridge.url + "/metrics").text
    bridge.stop()
    logs = bridge.logs()

    lines = [line for line in logs.splitlines() if line.strip()]
    assert lines, "the bridge logged nothing"
    for line in lines:
        orjson.loads(line)  # every line is one JSON object
    assert any('"outcome":"accepted"' in line for line in lines)
    for secret in (TENCENT_TOKEN, NX_SECRET, NX_OTHER_SECRET):
        assert secret not in logs and secret not in scrape
    assert phone not in logs and phone[2:] not in logs
    assert text not in logs and text not in scrape
    assert "+86" + "*" * 9 + "78" in logs  # the masked number is there


def test_traceparent_is_carried_into_the_event(broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_process(config_dict(broker.bootstrap))
    message_id = uuid.uuid4().hex
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    body = nx_body("dr", message_id)
    request = nxcloud_request(nxcloud_url(bridge), body, access_key=NX_ACCESS_KEY, secret=NX_SECRET, action="dr")
    reply = httpx.post(request.url, content=body, headers={**request.headers, "traceparent": traceparent})
    assert reply.text == "success"
    records = read_sync(broker.bootstrap, [DR], lambda rs: any(r.key == message_id.encode() for r in rs))
    event = orjson.loads(next(r for r in records if r.key == message_id.encode()).value)
    assert event["traceparent"] == traceparent


LOAD = 60  # callbacks answered OK before the SIGTERM


def test_sigterm_under_load_loses_nothing_answered_ok(broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    config = config_dict(broker.bootstrap, graceful_shutdown_seconds=5)
    bridge = bridge_process(config)
    process = bridge.process
    assert process is not None
    results: list[tuple[str, str, int]] = []
    errors: list[str] = []

    loaded_event = asyncio.Event()

    async def client(worker: int, give_up_at: float) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while process.poll() is None and time.monotonic() < give_up_at:  # until the bridge has exited
                message_id = uuid.uuid4().hex
                try:
                    if worker % 2:
                        request = nxcloud_request(nxcloud_url(bridge), nx_body("mo", message_id), action="mo",
                                                  access_key=NX_ACCESS_KEY, secret=NX_SECRET)
                        reply = await http.post(request.url, content=request.body, headers=request.headers)
                        results.append(("mo", message_id, reply.status_code))
                    else:
                        report = [{"user_receive_time": "2026-01-01 00:00:00", "nationcode": "86",
                                   "mobile": "13800138000", "report_status": "SUCCESS", "errmsg": "DELIVRD",
                                   "description": "", "sid": message_id}]
                        reply = await http.post(tencent_url(bridge), content=orjson.dumps(report))
                        results.append(("dr", message_id, reply.status_code))
                    if sum(1 for _, _, status in results if status == 200) >= LOAD:
                        loaded_event.set()
                except httpx.TransportError as exc:
                    errors.append(type(exc).__name__)
                    await asyncio.sleep(0.05)

    async def run() -> None:
        # SIGTERM once LOAD callbacks were answered OK (load has reached the bridge), however long
        # that takes; the clients go on until the bridge has exited.
        give_up_at = time.monotonic() + 120
        async def clients() -> None:
            await asyncio.gather(*(client(i, give_up_at) for i in range(16)))

        async def loaded_enough() -> None:
            await loaded_event.wait()

        everyone, loaded = asyncio.create_task(clients()), asyncio.create_task(loaded_enough())
        await asyncio.wait([loaded, everyone], return_when=asyncio.FIRST_COMPLETED)
        loaded.cancel()
        process.send_signal(signal.SIGTERM)
        await everyone

    asyncio.run(run())
    code = process.wait(timeout=60)  # generous: the bridge's own drain is bounded by graceful_shutdown_seconds
    assert code == 0, bridge.logs()[-3000:]

    statuses = {status for _, _, status in results}
    assert statuses <= {200, 503}, statuses
    ok = {(kind, m) for kind, m, status in results if status == 200}
    assert len(ok) >= LOAD, "too little load reached the bridge to prove anything"
    receipts = {m.encode() for kind, m in ok if kind == "dr"}
    subjects = {m for kind, m in ok if kind == "mo"}

    def complete(records: list) -> bool:  # type: ignore[type-arg]
        keys = {r.key for r in records}
        seen = {orjson.loads(r.value).get("subject") for r in records if r.topic == MO}
        return receipts <= keys and subjects <= seen

    records = read_sync(broker.bootstrap, [DR, MO], complete, timeout=30)
    lost = len(receipts - {r.key for r in records}) + len(
        subjects - {orjson.loads(r.value).get("subject") for r in records if r.topic == MO}
    )
    assert lost == 0
    assert "draining" in bridge.logs()
