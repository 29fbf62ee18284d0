"""The `bridge` command: serve, check-config, dev, tail and send."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bridge import __version__
from bridge.config import Settings, load
from bridge.errors import BridgeError, ConfigError

EXIT_CONFIG: Final = 2
DEV_CONFIG: Final = Path(__file__).resolve().parent.parent / "config" / "bridge.dev.yaml"


def _load_or_exit(path: str, environ: dict[str, str] | None = None) -> Settings:
    try:
        return load(path, environ)
    except ConfigError as error:
        print(f"{path}: {error}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from bridge import logs
    from bridge.server import serve

    settings = _load_or_exit(args.config)
    logs.setup(settings.logging.level)
    return serve(settings, host=args.host, port=args.port)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load_or_exit(args.file)
    names = ", ".join(f"{p.name} ({p.kind}, {p.path})" for p in settings.providers)
    print(f"{args.file}: ok; {len(settings.providers)} provider instance(s): {names}")
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from bridge.tail import tail

    topics = args.topic or ["sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter"]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tail(args.bootstrap, topics, from_beginning=args.from_beginning))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from bridge.send import nxcloud_request, post, sample_body, tencent_request

    if args.body == "-":
        body = sys.stdin.buffer.read()
    elif args.body:
        body = Path(args.body).read_bytes()
    else:
        body = sample_body(args.kind, args.action)
    if args.kind == "nxcloud":
        if not args.access_key or args.secret is None:
            print("nxcloud needs --access-key and --secret (or BRIDGE_SEND_SECRET)", file=sys.stderr)
            return EXIT_CONFIG
        request = nxcloud_request(
            args.url, body, access_key=args.access_key, secret=args.secret, action=args.action, algorithm=args.algorithm
        )
    else:
        request = tencent_request(args.url, body)
    status, reply = post(request)
    print(f"HTTP {status}")
    print(reply.decode("utf-8", "replace"))
    return 0 if 200 <= status < 300 else 1


def cmd_dev(args: argparse.Namespace) -> int:
    from bridge import logs
    from bridge.broker import BrokerError, EmbeddedBroker, free_port

    config_path = Path(args.config) if args.config else DEV_CONFIG
    port = args.port or 8080
    try:
        broker = EmbeddedBroker(port=args.broker_port).start()
    except BrokerError as error:
        print(f"bridge dev: {error}", file=sys.stderr)
        return 1
    try:
        environ = {**os.environ, "BRIDGE_KAFKA_BOOTSTRAP": broker.bootstrap}
        settings = _load_or_exit(str(config_path), environ)
        logs.setup("warning" if not args.verbose else settings.logging.level)
        topics = settings.kafka.topics
        broker.create_topics([topics.delivery_receipt, topics.inbound_message, topics.dead_letter])
        if args.port is None and not _port_free(port):
            port = free_port()
        _print_banner(settings, broker.bootstrap, port)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_dev_main(settings, broker.bootstrap, port))
        print("\nbridge dev: stopped the bridge and the broker.")
        return 0
    finally:
        broker.stop()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _dev_main(settings: Settings, bootstrap: str, port: int) -> None:
    from bridge.server import DrainingServer, build_app, uvicorn_config
    from bridge.tail import tail

    app, lifecycle = build_app(settings)
    server = DrainingServer(uvicorn_config(app, settings, host="127.0.0.1", port=port), lifecycle)
    stop = asyncio.Event()
    topics = settings.kafka.topics
    tailer = asyncio.create_task(
        tail(bootstrap, [topics.delivery_receipt, topics.inbound_message, topics.dead_letter], stop=stop)
    )
    try:
        await server.serve()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(tailer, 5)


def _print_banner(settings: Settings, bootstrap: str, port: int) -> None:
    from bridge.providers.nxcloud import NxCloudSettings
    from bridge.providers.tencent import TencentSettings
    from bridge.send import sample_body

    base = f"http://127.0.0.1:{port}"
    print(f"bridge dev {__version__}: embedded Kafka-compatible broker on {bootstrap}, bridge on {base}")
    print(f"  probes: {base}/livez  {base}/readyz   metrics: {base}/metrics")
    for p in settings.providers:
        if isinstance(p, TencentSettings):
            url = f"{base}{p.path}/{p.url_token.reveal()}"
            print(f"\nTencent instance '{p.name}': status and reply callbacks go to\n  {url}")
            print("Post the seed's sample status callback:")
            print(
                f"  curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json' \\\n"
                f"    -d {shlex.quote(sample_body('tencent').decode())}"
            )
        elif isinstance(p, NxCloudSettings):
            url = f"{base}{p.path}"
            key = p.access_keys[0]
            print(f"\nNxCloud instance '{p.name}': signed DID callbacks go to\n  {url}")
            print("Post a signed delivery receipt (dr) or inbound message (mo):")
            for action in ("dr", "mo"):
                print(
                    f"  bridge send nxcloud {url} --access-key {shlex.quote(key.access_key)} "
                    f"--secret {shlex.quote(key.secret.reveal())} --action {action}"
                )
    print(
        "\nEvents arriving on Kafka are printed below (also: bridge tail --bootstrap "
        f"{bootstrap}). Ctrl-C stops the bridge and the broker.\n",
        flush=True,
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="bridge", description="SMS provider callbacks in, CloudEvents on Kafka out.")
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve callbacks with a configuration file")
    serve.add_argument("--config", required=True, help="YAML configuration file")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration file and exit (2 when invalid)")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    dev = sub.add_parser("dev", help="run the bridge on an embedded local broker, printing events")
    dev.add_argument("--config", help="configuration (default: config/bridge.dev.yaml)")
    dev.add_argument("--port", type=int, help="HTTP port (default 8080, or a free one)")
    dev.add_argument("--broker-port", type=int, help="broker port (default: a free one)")
    dev.add_argument("--verbose", action="store_true", help="show the bridge's log lines too")
    dev.set_defaults(func=cmd_dev)

    tail = sub.add_parser("tail", help="print records arriving on the bridge's topics")
    tail.add_argument("--bootstrap", required=True, help="host:port of a broker")
    tail.add_argument("--topic", action="append", help="topic (repeatable; default: the three default topics)")
    tail.add_argument("--from-beginning", action="store_true")
    tail.set_defaults(func=cmd_tail)

    send = sub.add_parser("send", help="post a correctly signed provider callback to a running bridge")
    send.add_argument("kind", choices=["nxcloud", "tencent"])
    send.add_argument("url", help="the instance's callback URL (for tencent, with its token)")
    send.add_argument(
        "--action", default="dr", choices=["dr", "mo", "reply"], help="nxcloud: dr or mo; tencent: dr (status) or reply"
    )
    send.add_argument("--body", help="JSON body file, or - for stdin (default: the seed's sample)")
    send.add_argument("--access-key", help="nxcloud accessKey")
    send.add_argument("--secret", default=os.environ.get("BRIDGE_SEND_SECRET"), help="nxcloud accessSecret")
    send.add_argument("--algorithm", default="md5", choices=["md5", "sha256"])
    send.set_defaults(func=cmd_send)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except BridgeError as error:
        print(f"bridge: {error}", file=sys.stderr)
        return 1
    return code
