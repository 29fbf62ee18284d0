"""The `sms-bridge` command: serve, check-config, dev, send, tail, redrive and asyncapi.

Exit codes: 0 success; 1 the bridge refused (`send`) or a runtime failure; 2 a usage or
configuration mistake; 3 a server or broker that cannot be reached. A mistake is one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from bridge import __version__
from bridge.config import Settings, load
from bridge.errors import BridgeError, ConfigError, UsageError
from bridge.kafka.settings import host_port

PROGRAM: Final = "sms-bridge"
EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2
DEFAULT_TOPICS: Final = ("sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter")


def _settings(path: str | None) -> Settings:
    """The configuration at `path`; without one, or when it is the shipped dev configuration, as `dev` reads
    it (no `providers:` there: one instance of every kind, from the registry)."""
    from bridge.cli.dev import is_dev_config, load_dev

    try:
        if path is None or is_dev_config(path):
            return load_dev(Path(path) if path else None)
        return load(path)
    except ConfigError as error:
        raise UsageError(f"{path or 'dev configuration'}: {error}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from bridge import logs
    from bridge.cli.serve import serve

    settings = _settings(args.config)
    logs.setup(settings.logging.level)
    return serve(settings, host=args.host, port=args.port)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args.file)
    names = ", ".join(f"{p.name} ({p.kind}, {p.path})" for p in settings.providers)
    print(f"{args.file}: ok; {len(settings.providers)} provider instance(s): {names}")
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from bridge.kafka.asyncapi import document, render
    from bridge.kafka.settings import TopicSettings

    schema_base = args.schema_base or Path(str(files("bridge.schemas"))).as_uri() + "/"
    if args.config is None:
        doc = document(TopicSettings(), schema_base=schema_base)
    else:
        try:
            settings = load(args.config)
        except ConfigError as error:
            raise UsageError(f"{args.config}: {error}") from None
        kafka = settings.kafka
        doc = document(kafka.topics, type_prefix=kafka.type_prefix, content_mode=kafka.content_mode,
                       schema_base=schema_base, sources=[p.cloudevents_source for p in settings.providers])
    sys.stdout.write(render(doc))
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from bridge.cli.tail import tail_until_signalled

    topics = args.topic or list(DEFAULT_TOPICS)
    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C before the loop's own handler is in place
        asyncio.run(tail_until_signalled(args.bootstrap, topics, from_beginning=args.from_beginning))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from bridge.cli.send import find_instance, not_found_hint, post, prepare

    settings = _settings(args.config)
    instance = find_instance(settings, args.instance)
    body: bytes | None = None
    if args.body == "-":
        body = sys.stdin.buffer.read()
    elif args.body:
        try:
            body = Path(args.body).read_bytes()
        except OSError as error:
            raise UsageError(f"--body {args.body}: {error.strerror or error}") from None
    base_url = args.url or f"http://127.0.0.1:{settings.server.port}"
    request = prepare(settings, instance, args.action, base_url, body)
    answer = post(request)
    print(f"HTTP {answer.status}")
    print(answer.body.decode("utf-8", "replace"))
    if answer.reason and not 200 <= answer.status < 300:
        print(f"reason: {answer.reason}")
    if answer.status == 404:
        print(not_found_hint(request))
    return 0 if 200 <= answer.status < 300 else EXIT_REFUSED


def cmd_redrive(args: argparse.Namespace) -> int:
    from bridge.cli.redrive import Selection, redrive

    if args.from_offset is not None and args.to_offset is not None and args.to_offset < args.from_offset:
        raise UsageError(f"--to-offset {args.to_offset} is before --from-offset {args.from_offset}")
    settings = _settings(args.config)
    selection = Selection(
        from_offset=args.from_offset, to_offset=args.to_offset, since=_time(args.since, "--since"),
        until=_time(args.until, "--until"), reasons=frozenset(args.reason or ()), instance=args.instance,
    )
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connection noise; redrive says it once
    report = asyncio.run(redrive(settings, selection, apply=args.apply))
    print("\n".join(report.lines(args.apply)))
    return 0


def _time(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} must be an ISO 8601 time such as 2026-11-22T06:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_dev(args: argparse.Namespace) -> int:
    from bridge.cli.dev import run

    return run(Path(args.config) if args.config else None, args.port, args.broker_port, args.verbose)


def _port(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1 to 65535)")
    return int(text)


def _bootstrap(text: str) -> str:
    """An argparse type: a broker's host:port."""
    try:
        return host_port(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _offset(text: str) -> int:
    """An argparse type: a Kafka offset, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not an offset (0 or more)")
    return int(text)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog=PROGRAM, description="SMS provider callbacks in, CloudEvents on Kafka out.")
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve callbacks with a configuration file")
    serve.add_argument("--config", required=True, help="YAML configuration file")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=_port, help="override server.port")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a configuration file and exit (2 when invalid)")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    dev = sub.add_parser("dev", help="run the bridge on an embedded local broker, printing events")
    dev.add_argument("--config", help="configuration (default: config/bridge.dev.yaml, every provider kind)")
    dev.add_argument("--port", type=_port, help="HTTP port (default 8080, or a free one if it is taken)")
    dev.add_argument("--broker-port", type=_port, help="broker port (default: a free one)")
    dev.add_argument("--verbose", action="store_true", help="show the bridge's log lines too")
    dev.set_defaults(func=cmd_dev)

    asyncapi = sub.add_parser(
        "asyncapi", help="print the AsyncAPI 3.0 document of the topics (default names, or those of --config)"
    )
    asyncapi.add_argument("--config", help="configuration whose topics, type_prefix and content_mode to describe")
    asyncapi.add_argument(
        "--schema-base", help="where the `data` schemas' $refs point, ending in / (default: the installed "
        "bridge/schemas/ as a file: URI; docs/asyncapi.yaml uses ../bridge/schemas/)",
    )
    asyncapi.set_defaults(func=cmd_asyncapi)

    tail = sub.add_parser("tail", help="print records arriving on the bridge's topics")
    tail.add_argument("--bootstrap", required=True, type=_bootstrap, help="host:port of a broker")
    tail.add_argument("--topic", action="append", help="topic (repeatable; default: the three default topics)")
    tail.add_argument("--from-beginning", action="store_true")
    tail.set_defaults(func=cmd_tail)

    send = sub.add_parser(
        "send", help="post a provider's sample callback, signed with the instance's configured secrets, to a bridge"
    )
    send.add_argument("instance", help="instance name (or kind) in the configuration")
    send.add_argument("--action", help="which sample of the kind (default: its first; `dev` lists them)")
    send.add_argument("--config", help="configuration with the instance (default: the dev configuration)")
    send.add_argument(
        "--url", help="the bridge's base URL; the instance's path is added (default: http://127.0.0.1:<server.port>)"
    )
    send.add_argument("--body", help="a body file to send instead of the sample, or - for stdin")
    send.set_defaults(func=cmd_send)

    redrive = sub.add_parser(
        "redrive", help="parse dead letters again with this configuration; publish what now parses (--apply)"
    )
    redrive.add_argument("--config", required=True, help="configuration (its Kafka, topics and instances)")
    redrive.add_argument("--apply", action="store_true", help="publish (default: dry run, report only)")
    redrive.add_argument("--reason", action="append", help="only dead letters with this reason (repeatable)")
    redrive.add_argument("--instance", help="only dead letters of this instance")
    redrive.add_argument("--since", help="only dead letters received at or after this ISO 8601 time")
    redrive.add_argument("--until", help="only dead letters received at or before this ISO 8601 time")
    redrive.add_argument("--from-offset", type=_offset, help="first offset, in every partition")
    redrive.add_argument("--to-offset", type=_offset, help="last offset (inclusive), in every partition")
    redrive.set_defaults(func=cmd_redrive)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return error.code
    except BridgeError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_REFUSED
    return code
