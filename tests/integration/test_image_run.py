"""The container image as production runs it: built from the Dockerfile with Podman on a stand-in base
(scripts/image-test-base, Debian's Python 3.11), run as UID 10001 on a read-only root filesystem with
the chart's mounts (config and secrets read-only, /tmp a tmpfs) against a real broker; every kind's
signed callbacks in, valid records out, and a clean exit on SIGTERM.

Needs podman and mmdebstrap (Debian packages) and root; skipped without them, except in CI
(`SMS_BRIDGE_REQUIRE_TOOLS=1`), where their absence fails the test.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from bridge.cli.dev_broker import EmbeddedBroker, free_port
from bridge.clock import SystemClock
from bridge.config import Settings, load
from bridge.events import EventType
from bridge.kafka.envelope import KafkaRecord
from bridge.providers import PROVIDERS, build, dev_instances
from tests.bench.procs import metrics_totals
from tests.conftest import ROOT, TOPICS, require_tool
from tests.helpers import assert_valid_record
from tests.integration.kafka import read_sync

pytestmark = pytest.mark.integration

IMAGE = "localhost/sms-bridge:image-test"
BUILD_TIMEOUT = 420.0  # each: the stand-in base (cold: 40-170 s here), the image (cold: 35-100 s; cached: ~6 s)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20  # podman stop: SIGTERM, then SIGKILL after this many seconds
CONFIG = "/etc/sms-bridge/bridge.yaml"
SECRETS = "/etc/sms-bridge/secrets"
TOPIC_OF = {EventType.DELIVERY_RECEIPT: "sms.delivery-receipts", EventType.INBOUND_MESSAGE: "sms.inbound-messages"}
DEFAULTED = re.compile(r"^\$\{([A-Z0-9_]+):-(.*)\}$")  # a dev secret: ${VAR:-value}


def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """A command that must succeed within `timeout`; its output in the failure message otherwise."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"{' '.join(argv[:3])} ... did not finish within {timeout} s: {expired.stderr!r}"[-4000:])
    if result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{(result.stdout + result.stderr)[-4000:]}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    """The Dockerfile built with Podman on the stand-in base. Layers are cached between runs; the image
    that a rebuild replaces is removed, so that repeated runs do not pile up images."""
    podman = require_tool("podman", "podman")
    require_tool("mmdebstrap", "mmdebstrap")
    base = run([str(ROOT / "scripts" / "image-test-base")], BUILD_TIMEOUT).stdout.split()[-1]
    before = image_id(podman, IMAGE)
    run([podman, "build", "--pull=never", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}",
         "--tag", IMAGE, str(ROOT)], BUILD_TIMEOUT)
    if before and before != image_id(podman, IMAGE):
        subprocess.run([podman, "rmi", before], capture_output=True, timeout=60, check=False)
    return IMAGE


def image_id(podman: str, tag: str) -> str | None:
    result = subprocess.run([podman, "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True,
                            timeout=30, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def as_secret_files(value: Any, secrets: Path) -> Any:
    """The instance with each `${VAR:-value}` secret moved to a file `secrets/VAR`, referenced as
    `${file:secrets/VAR}`: the layout of the chart's Secret volume beside the config."""
    if isinstance(value, dict):
        return {k: as_secret_files(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [as_secret_files(v, secrets) for v in value]
    if isinstance(value, str) and (match := DEFAULTED.match(value)):
        (secrets / match.group(1)).write_text(match.group(2), "utf-8")
        (secrets / match.group(1)).chmod(0o444)
        return f"${{file:secrets/{match.group(1)}}}"
    return value


class Container:
    """One `podman run -d` of the image, removed by `remove()` whatever happened."""

    def __init__(self, podman: str, name: str) -> None:
        self.podman, self.name = podman, name

    def state(self, field: str) -> str:
        return run([self.podman, "inspect", "--format", f"{{{{.State.{field}}}}}", self.name], 30).stdout.strip()

    def logs(self) -> str:
        result = subprocess.run([self.podman, "logs", self.name], capture_output=True, text=True, timeout=30,
                                check=False)
        return (result.stdout + result.stderr)[-4000:]

    def exec_python(self, code: str) -> str:
        return run([self.podman, "exec", self.name, "python", "-c", code], 60).stdout

    def wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.state("Running") != "true":
                pytest.fail(f"the container exited ({self.state('ExitCode')}):\n{self.logs()}")
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"the container was not ready within {READY_TIMEOUT} s:\n{self.logs()}")

    def remove(self) -> None:
        subprocess.run([self.podman, "rm", "--force", "--ignore", self.name], capture_output=True, timeout=60,
                       check=False)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (other tests read the session broker's topics whole)."""
    with EmbeddedBroker(log_file=tmp_path / "broker.log") as running:
        running.create_topics(TOPICS)
        yield running


def post_every_sample(settings: Settings, url: str) -> set[tuple[str, EventType]]:
    """Every documented sample of every configured instance, signed by the registry's sign() with the
    instance's secrets as the provider would sign it (what `sms-bridge send` posts); each must be accepted."""
    sent: set[tuple[str, EventType]] = set()
    with httpx.Client(timeout=15) as client:
        for instance in settings.providers:
            provider = build(instance, SystemClock())
            for sample in provider.samples:
                now = time.time()
                out = provider.sign(url + instance.path, sample.body(now), sample.name, now)
                reply = client.request(out.method, out.url, headers=dict(out.headers),
                                       content=out.body if out.method != "GET" else None)
                assert reply.is_success, (instance.kind, sample.name, reply.status_code, reply.text)
                sent.add((instance.kind, sample.event_type))
    return sent


def test_the_image_runs_as_uid_10001_on_a_read_only_root_and_publishes_every_kinds_signed_callbacks(
    image: str, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    podman = require_tool("podman", "podman")
    port = free_port()
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o755)
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "graceful_shutdown_seconds": 5},
        "kafka": {"bootstrap_servers": [own_broker.bootstrap], "enable_idempotence": False,
                  "produce_timeout_seconds": 3},
        "providers": [as_secret_files(i, secrets) for i in dev_instances()],
    }
    config_path = tmp_path / "bridge.yaml"
    config_path.write_text(yaml.safe_dump(config), "utf-8")
    config_path.chmod(0o444)
    url = f"http://127.0.0.1:{port}"

    container = Container(podman, f"sms-bridge-image-test-{uuid.uuid4().hex[:12]}")
    try:
        run([podman, "run", "--detach", "--pull=never", "--name", container.name, "--user", "10001:10001",
             "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777",
             "--cap-drop", "all", "--security-opt", "no-new-privileges", "--network", "host",
             "--volume", f"{config_path}:{CONFIG}:ro", "--volume", f"{secrets}:{SECRETS}:ro", image], 60)
        container.wait_ready(url)

        # The bridge is PID 1, with every UID and GID 10001, and nothing but /tmp is writable.
        probe = (
            "import errno, pathlib\n"
            "print(pathlib.Path('/proc/1/cmdline').read_bytes().replace(b'\\0', b' ').decode())\n"
            "status = pathlib.Path('/proc/1/status').read_text().splitlines()\n"
            "print(sorted({i for line in status if line.startswith(('Uid:', 'Gid:')) for i in line.split()[1:]}))\n"
            "for path in ('/opt/venv/probe', '/etc/sms-bridge/probe', '/etc/sms-bridge/secrets/probe', '/probe'):\n"
            "    try:\n"
            "        open(path, 'w')\n"
            "        print('writable')\n"
            "    except OSError as error:\n"
            "        print(errno.errorcode[error.errno])\n"
            "pathlib.Path('/tmp/probe').write_text('ok')\n"
        )
        cmdline, ids, *writes = container.exec_python(probe).splitlines()
        assert cmdline.split()[1:] == ["/opt/venv/bin/sms-bridge", "serve", "--config", CONFIG]
        assert ids == "['10001']"
        assert writes == ["EROFS"] * 4  # the kernel's read-only answer, before any permission check

        # Every sample of every kind, signed with the secrets that the container read from files.
        sent = post_every_sample(load(config_path), url)
        samples = sum(len(cls.samples) for cls in PROVIDERS.values())
        assert {kind for kind, _ in sent} == set(PROVIDERS)

        totals = metrics_totals(port)
        assert totals["accepted"] == samples and totals["not_accepted"] == 0
        assert totals["records"] >= samples
        records = read_sync(own_broker.bootstrap, list(TOPIC_OF.values()), lambda rs: len(rs) >= totals["records"])
        assert len(records) == totals["records"]
        seen: set[tuple[str, EventType]] = set()
        for record in records:
            raw = orjson.loads(record.value)
            event_type = EventType(raw["type"])
            assert record.topic == TOPIC_OF[event_type]
            assert_valid_record(KafkaRecord(record.topic, record.key or b"", record.value, record.headers, raw["id"],
                                            event_type))
            seen.add((raw["data"]["provider"], event_type))
        assert seen == sent
        dead_letters = set(TOPICS) - set(TOPIC_OF.values())
        assert read_sync(own_broker.bootstrap, list(dead_letters), lambda rs: False, timeout=1) == []

        # SIGTERM: the bridge drains and exits 0, as PID 1 of the container.
        run([podman, "stop", "--time", str(STOP_TIMEOUT), container.name], STOP_TIMEOUT + 30)
        logs = container.logs()
        assert container.state("ExitCode") == "0", logs
        assert "Traceback" not in logs
    finally:
        container.remove()
