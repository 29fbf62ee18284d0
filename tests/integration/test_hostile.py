"""Hostile input against the running bridge: random JSON, bad UTF-8, lying lengths, slow bodies.

Zero 5xx other than the documented 503, no crash, nothing unverified published, memory bounded.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NX_ACCESS_KEY, NX_SECRET, TENCENT_TOKEN, config_dict
from tests.helpers import nxcloud_request
from tests.integration.kafka import read_sync
from tests.integration.test_end_to_end import DLQ, DR, MO, nx_body, post_nx

pytestmark = pytest.mark.integration

ALLOWED = {200, 400, 401, 403, 404, 405, 408, 413, 415, 503}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=40,
)
tencent_like = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            k: st.one_of(st.text(max_size=30), st.integers(), st.none(), json_values)
            for k in ("user_receive_time", "nationcode", "mobile", "report_status", "errmsg", "description", "sid")
        },
    ),
    max_size=5,
)
nx_like = st.fixed_dictionaries(
    {},
    optional={
        k: st.one_of(st.text(max_size=30), st.integers(), st.none(), json_values)
        for k in ("messageId", "toPhone", "fromPhone", "content", "size", "price", "receiveTime", "smsStatus", "type")
    },
)


def dumps(value: object) -> bytes:
    """JSON text, big integers and Infinity included (orjson refuses both)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def hostile_bridge(broker, tmp_path_factory):  # type: ignore[no-untyped-def]
    from tests.conftest import BridgeProcess

    config = config_dict(broker.bootstrap, body_timeout_seconds=1, max_body_bytes=64 * 1024)
    process = BridgeProcess(config, tmp_path_factory.mktemp("hostile")).start()
    yield process
    process.stop()


def raw_request(port: int, data: bytes, *, wait: float = 0.0, read_timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        if wait:
            time.sleep(wait)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    lengths = (int(h.split(b":")[1]) for h in head.split(b"\r\n")
                               if h.lower().startswith(b"content-length"))
                    length = next(lengths, 0)
                    if len(rest) >= length:
                        break
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(tencent_like.map(dumps), json_values.map(dumps), st.binary(max_size=300)))
def test_random_tencent_bodies_never_get_a_5xx(hostile_bridge, body: bytes) -> None:  # type: ignore[no-untyped-def]
    reply = httpx.post(f"{hostile_bridge.url}/callbacks/tencent/test/{TENCENT_TOKEN}", content=body,
                       headers={"content-type": "application/json"})
    assert reply.status_code in ALLOWED - {503}
    assert isinstance(reply.json()["result"], int)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(nx_like.map(dumps), json_values.map(dumps), st.binary(max_size=300)),
       action=st.sampled_from(["dr", "mo", "xx"]), sign=st.booleans())
def test_random_nxcloud_bodies_signed_or_not_never_get_a_5xx(  # type: ignore[no-untyped-def]
    hostile_bridge, body: bytes, action: str, sign: bool
) -> None:
    request = nxcloud_request(f"{hostile_bridge.url}/callbacks/nxcloud/test", body, access_key=NX_ACCESS_KEY,
                              secret=NX_SECRET if sign else "forged", action=action)
    reply = httpx.post(request.url, content=body, headers=request.headers)
    assert reply.status_code in ALLOWED - {503}
    assert reply.text in ("success", "error")
    if not sign:
        assert reply.status_code == 401


def test_deeply_nested_and_huge_json_get_a_4xx(hostile_bridge) -> None:  # type: ignore[no-untyped-def]
    url = f"{hostile_bridge.url}/callbacks/tencent/test/{TENCENT_TOKEN}"
    for body in (b"[" * 100_000 + b"]" * 100_000, b'[{"sid": "' + b"x" * 70_000 + b'"}]', b"[" * 2000):
        reply = httpx.post(url, content=body, headers={"content-type": "application/json"})
        assert reply.status_code in (400, 413), reply.status_code


def test_lying_content_length_truncated_and_slow_bodies(hostile_bridge) -> None:  # type: ignore[no-untyped-def]
    port = hostile_bridge.port
    path = f"/callbacks/tencent/test/{TENCENT_TOKEN}".encode()
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    # claims more than it sends, then waits: the body deadline answers 408
    slow = raw_request(port, head + b"Content-Length: 100\r\n\r\n[{", read_timeout=30)
    assert status_of(slow) == 408
    # claims less than it sends: the rest is a malformed next request, never a 5xx
    short = raw_request(port, head + b"Content-Length: 2\r\n\r\n[]garbage garbage\r\n\r\n", read_timeout=30)
    assert status_of(short) in {200, 400}
    assert b" 5" not in short.split(b"\r\n", 1)[0]
    # claims a body over the limit: 413 before reading it
    big = raw_request(port, head + b"Content-Length: 999999999\r\n\r\n", read_timeout=30)
    assert status_of(big) == 413
    # a truncated body, connection closed half-way: the bridge survives
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + b"Content-Length: 50\r\n\r\n[{\"sid\":")
    # oversized and duplicate headers
    huge_header = raw_request(port, head + b"X-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\n[]",
                              read_timeout=3)
    assert status_of(huge_header) in {0, 400, 431}
    assert httpx.get(hostile_bridge.url + "/livez").status_code == 200


def test_duplicate_signature_headers_are_refused(hostile_bridge) -> None:  # type: ignore[no-untyped-def]
    body = nx_body("dr", uuid.uuid4().hex)
    request = nxcloud_request(f"{hostile_bridge.url}/callbacks/nxcloud/test", body, access_key=NX_ACCESS_KEY,
                              secret=NX_SECRET, action="dr")
    headers = [(k, v) for k, v in request.headers.items()] + [("sign", request.headers["sign"])]
    reply = httpx.post(request.url, content=body, headers=headers)
    assert (reply.status_code, reply.text) == (401, "error")
    headers = [(k, v) for k, v in request.headers.items()] + [("accesskey", "other")]
    assert httpx.post(request.url, content=body, headers=headers).status_code in (401, 403)


def test_after_the_onslaught_the_bridge_is_alive_bounded_and_published_nothing_unverified(  # type: ignore[no-untyped-def]
    broker, hostile_bridge
) -> None:
    assert hostile_bridge.process is not None and hostile_bridge.process.poll() is None
    rss = rss_kb(hostile_bridge.process.pid)
    assert rss < 300 * 1024, f"RSS {rss} kB"
    sentinel = uuid.uuid4().hex
    assert post_nx(hostile_bridge, "dr", nx_body("dr", sentinel)).text == "success"
    records = read_sync(broker.bootstrap, [DR, MO, DLQ],
                        lambda rs: any(orjson.loads(r.value).get("subject") == sentinel for r in rs))
    forged = [r for r in records if r.topic != DLQ and orjson.loads(r.value)["source"] != "/sms/tencent/1400000000"
              and orjson.loads(r.value)["source"] != "/sms/nxcloud/kGp5uFHN"]
    assert not forged
    print(f"\nhostile input: bridge RSS after the run {rss // 1024} MiB")
