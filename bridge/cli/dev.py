"""`sms-bridge dev`: the bridge on an embedded local broker, with a banner of ready-to-paste commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Final

from bridge import __version__
from bridge.clock import SystemClock
from bridge.config import Settings, load
from bridge.errors import UsageError
from bridge.providers import PROVIDERS, build, dev_instances
from bridge.providers.base import InstanceSettings

DEV_CONFIG: Final = Path(__file__).resolve().parents[2] / "config" / "bridge.dev.yaml"
PROGRAM: Final = "sms-bridge"
READY_TIMEOUT_SECONDS: Final = 30.0


def load_dev(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """The dev configuration; with no `providers:` in the file, one instance of every kind."""
    return load(path or DEV_CONFIG, environ, default_providers=dev_instances())


def is_dev_config(path: str | Path) -> bool:
    """Whether `path` is the shipped dev configuration (config/bridge.dev.yaml of this checkout), which
    every command reads as `dev` does: its instances come from the registry."""
    try:
        return DEV_CONFIG.is_file() and Path(path).resolve() == DEV_CONFIG
    except (OSError, RuntimeError):
        return False


def command() -> str:
    """How to run `sms-bridge` from any shell, activated venv or not: the script installed beside the running
    interpreter (absolute, symlinks kept, so a venv's bin/), else `<interpreter> -m bridge`."""
    interpreter = Path(os.path.abspath(sys.executable))
    script = interpreter.parent / PROGRAM
    if os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(str(interpreter))} -m bridge"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run(config: Path | None, port: int | None, broker_port: int | None, verbose: bool) -> int:
    """Start the broker and the bridge, print the banner once /readyz answers, tail until Ctrl-C."""
    from bridge import logs
    from bridge.cli.dev_broker import BrokerError, EmbeddedBroker, free_port

    chosen = port or 8080
    note = ""
    if not port_free(chosen):
        if port is not None:
            raise UsageError(f"port {port} is in use; pick another with --port or leave it out")
        chosen = free_port()
        note = f" (port 8080 is in use, so it took {chosen})"
    try:
        broker = EmbeddedBroker(port=broker_port).start()
    except BrokerError as error:
        raise UsageError(f"cannot start the embedded broker: {error}", 1) from None
    try:
        settings = load_dev(config, {**os.environ, "BRIDGE_KAFKA_BOOTSTRAP": broker.bootstrap})
        logs.setup("warning" if not verbose else settings.logging.level)
        topics = settings.kafka.topics
        broker.create_topics([topics.delivery_receipt, topics.inbound_message, topics.dead_letter])
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_main(settings, broker.bootstrap, chosen, config, note))
        print(f"\n{PROGRAM} dev: stopped the bridge and the broker.")
        return 0
    finally:
        broker.stop()


async def _main(settings: Settings, bootstrap: str, port: int, config: Path | None, note: str) -> None:
    from bridge.cli.serve import DrainingServer, build_app, uvicorn_config
    from bridge.cli.tail import tail

    app, lifecycle = build_app(settings)
    server = DrainingServer(uvicorn_config(app, settings, host="127.0.0.1", port=port), lifecycle)
    serving = asyncio.create_task(server.serve())
    if not await _ready(port, serving):
        await serving  # it failed to start: its error is already logged; end here
        return
    print(banner(settings, bootstrap, port, config, note), flush=True)
    stop = asyncio.Event()
    topics = settings.kafka.topics
    tailer = asyncio.create_task(
        tail(bootstrap, [topics.delivery_receipt, topics.inbound_message, topics.dead_letter], stop=stop)
    )
    try:
        await serving
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(tailer, 5)


async def _ready(port: int, serving: asyncio.Task[None]) -> bool:
    """Poll /readyz until it answers 200, the server task ends, or the deadline passes."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not serving.done():
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            status = await reader.readline()
            writer.close()
            if status.startswith(b"HTTP/1.1 200"):
                return True
        await asyncio.sleep(0.1)
    return not serving.done()


def banner(settings: Settings, bootstrap: str, port: int, config: Path | None, note: str = "") -> str:
    """Where everything is, and a ready-to-paste command for every sample of every instance."""
    base = f"http://127.0.0.1:{port}"
    program = command()
    lines = [
        f"{PROGRAM} dev {__version__}: embedded Kafka-compatible broker on {bootstrap}, bridge on {base}{note}",
        f"  probes: {base}/livez  {base}/readyz   metrics: {base}/metrics",
    ]
    config_flag = f" --config {shlex.quote(str(config))}" if config else ""
    for instance in settings.providers:
        lines += ["", *_instance_lines(instance, base, config_flag, program)]
    lines.append(
        f"\nEvents arriving on Kafka are printed below (also: {program} tail --bootstrap {bootstrap})."
        " Ctrl-C stops the bridge and the broker.\n"
    )
    return "\n".join(lines)


def _instance_lines(instance: InstanceSettings, base: str, config_flag: str, program: str) -> list[str]:
    provider = build(instance, SystemClock())
    cls = PROVIDERS[instance.kind]
    now = time.time()
    first = cls.samples[0]
    example = provider.sign(base + instance.path, first.body(now), first.name, now)
    lines = [f"{cls.title} instance '{instance.name}': callbacks go to", f"  {example.url}"]
    lines.append("Post a signed sample callback:")
    for sample in cls.samples:
        lines.append(
            f"  {program} send {instance.name} --action {sample.name} --url {base}{config_flag}"
            f"   # {sample.description}"
        )
    if not provider.signs_time() and example.method == "POST":  # a fixed request stays valid: show it as curl
        headers = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in example.headers.items())
        lines.append("or with curl:")
        lines.append(
            f"  curl -sS -X POST {shlex.quote(example.url)} {headers} \\\n    -d {shlex.quote(example.body.decode())}"
        )
    return lines
