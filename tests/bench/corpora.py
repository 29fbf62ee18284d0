"""Request corpora: files of complete raw HTTP/1.1 requests that the load generators replay.

A corpus file holds the requests separated by NUL bytes. Every request says `Host: 127.0.0.1`
(no port), so one corpus serves every server of a run whatever its port.
* NxCloud: distinct, correctly signed `action: dr` callbacks (one record each, ~210 B JSON);
  every messageId is unique to the corpus, so every request carries a distinct signature and
  none is refused as a replay, as long as a run sends no more requests than the corpus holds.
* Tencent: status callbacks, each an array of 5 reports with distinct `sid`s (~1.1 KB JSON);
  Tencent signs nothing, so a small corpus is cycled.
* Twilio: form-encoded status callbacks (the provider's own `status` and `status-undelivered`
  samples, one in four undelivered), each with its own MessageSid and To, signed by the
  provider's own `sign()` with the instance's first auth token over the URL the bridge rebuilds
  (`http://127.0.0.1<path>`: scheme and Host of the request). Twilio signs no time and no nonce,
  so the bridge keeps no replay key and a small corpus is cycled.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from bridge.clock import SystemClock
from bridge.config import Settings
from bridge.providers import build
from bridge.providers.nxcloud import DID_BIZ_TYPE, signature
from bridge.providers.nxcloud import receipt_body as nxcloud_receipt_body

CST: Final = timezone(timedelta(hours=8))  # the instances' zone (Asia/Shanghai)
HOST: Final = "127.0.0.1"
NXCLOUD_PATH: Final = "/callbacks/nxcloud/test"
TENCENT_PATH: Final = "/callbacks/tencent/test"
TWILIO_PATH: Final = "/callbacks/twilio/test"
REPORTS_PER_TENCENT_CALLBACK: Final = 5
RECORDS_PER_CALLBACK: Final = {"nxcloud": 1, "tencent": REPORTS_PER_TENCENT_CALLBACK, "twilio": 1}
KINDS: Final = tuple(RECORDS_PER_CALLBACK)  # the benchmark's bodies, in the order its tables show them
TWILIO_INSTANCE: Final = {  # the Twilio instance the benchmark's bridges add to the tests' configuration
    "kind": "twilio",
    "name": "twilio-test",
    "path": TWILIO_PATH,
    "source": "/sms/twilio/AC" + "0" * 32,
    "auth_tokens": ["bench-twilio-auth-token-0123456789"],
}
TWILIO_UNDELIVERED_EVERY: Final = 4


def raw_request(path: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """One POST as bytes on the wire (HTTP/1.1, keep-alive, Host without a port)."""
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}"]
    head += [f"{name}: {value}" for name, value in headers]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def nxcloud_corpus(count: int, tag: str, access_key: str, secret: str, first: int = 0) -> list[bytes]:
    """`count` distinct signed NxCloud `dr` callbacks, signed now (`ts`), unique per (`tag`, index).

    `first` offsets the indexes, so that consecutive chunks of one corpus stay distinct."""
    now = datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")
    ts = str(int(time.time() * 1000))
    signed = {"accessKey": access_key, "action": "dr", "bizType": DID_BIZ_TYPE, "ts": ts}
    fixed = [("accesskey", access_key), ("action", "dr"), ("biztype", DID_BIZ_TYPE), ("ts", ts)]
    out: list[bytes] = []
    for i in range(first, first + count):
        # 32-character ids, like NxCloud's; recipients are distinct valid US numbers (+1 818 200-0000 on:
        # exchanges 000-199 do not exist, and a receipt is for a number the message went to)
        body = nxcloud_receipt_body(f"{tag:_<12.12}{i:020d}", f"1818{2_000_000 + i % 8_000_000:07d}", now)
        sign = signature(signed, body, secret)
        out.append(raw_request(NXCLOUD_PATH, [*fixed, ("sign", sign), ("Content-Type", "application/json")], body))
    return out


def tencent_corpus(count: int, tag: str, token: str) -> list[bytes]:
    """`count` Tencent status callbacks of 5 reports each, with distinct `sid`s."""
    now = datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")
    out: list[bytes] = []
    for i in range(count):
        reports = [
            {
                "user_receive_time": now,
                "nationcode": "86",
                "mobile": f"138{(i * 5 + j) % 100_000_000:08d}",
                "report_status": "SUCCESS" if j % 4 else "FAIL",
                "errmsg": "DELIVRD" if j % 4 else "UNDELIV",
                "description": "The SMS message is successfully delivered",
                "sid": f"bench:{tag}:{i:06d}:{j}",
            }
            for j in range(REPORTS_PER_TENCENT_CALLBACK)
        ]
        body = orjson.dumps(reports)
        out.append(raw_request(f"{TENCENT_PATH}/{token}", [("Content-Type", "application/json")], body))
    return out


def twilio_corpus(count: int, tag: str, settings: Settings, path: str = TWILIO_PATH) -> list[bytes]:
    """`count` Twilio status callbacks with distinct MessageSids, signed by the instance at `path`
    (built from its settings as `sms-bridge send` builds it) over `http://127.0.0.1<path>`."""
    instance = next(p for p in settings.providers if p.path == path)
    provider = build(instance, SystemClock())
    samples = {sample.name: sample for sample in provider.samples}
    now = time.time()
    url = f"http://{HOST}{instance.path}"
    out: list[bytes] = []
    for i in range(count):
        sample = samples["status-undelivered" if i % TWILIO_UNDELIVERED_EVERY == 0 else "status"]
        sid = f"SM{tag:0>12.12}{i:020d}"  # 34 characters, a SID's length
        fields = {"MessageSid": sid, "SmsSid": sid, "To": f"+1555{i % 10_000_000:07d}"}
        params = [(name, fields.get(name, value)) for name, value in parse_qsl(sample.body(now).decode("ascii"))]
        outgoing = provider.sign(url, urlencode(params).encode("ascii"), sample.name, now)
        target = urlsplit(outgoing.url)
        where = target.path + (f"?{target.query}" if target.query else "")
        out.append(raw_request(where, list(outgoing.headers.items()), outgoing.body))
    return out


def write_corpus(path: Path, requests: Sequence[bytes]) -> Path:
    path.write_bytes(b"\0".join(requests))
    return path


def read_corpus(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\0")
