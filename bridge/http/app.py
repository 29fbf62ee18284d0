"""The ASGI application: routes, lifespan and the objects they share, all passed in."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.clock import Clock
from bridge.http.accepted_log import AcceptedLog
from bridge.http.deadlines import Deadlines
from bridge.http.endpoint import CallbackEndpoint
from bridge.http.guard import Guard
from bridge.http.health import Health
from bridge.http.intake import Intake, request_id
from bridge.http.lifecycle import Lifecycle
from bridge.http.outbound import HttpsFetcher
from bridge.http.pipeline import Pipeline
from bridge.http.settings import ServerSettings
from bridge.kafka.envelope import Envelope
from bridge.kafka.publisher import Publisher
from bridge.kafka.settings import KafkaSettings
from bridge.metrics import NO_ACCOUNT, BridgeMetrics
from bridge.providers import build
from bridge.providers.base import Fetch, InstanceSettings

if TYPE_CHECKING:
    from bridge.tracing import Tracing


class AppSettings(Protocol):
    """What the app reads of the settings tree (bridge.config.Settings has it): the HTTP side, the topics
    and each instance, whose reply deadline the configuration has resolved."""

    @property
    def server(self) -> ServerSettings: ...
    @property
    def kafka(self) -> KafkaSettings: ...
    @property
    def providers(self) -> Sequence[InstanceSettings]: ...


def create_app(
    settings: AppSettings,
    publisher: Publisher,
    registry: CollectorRegistry,
    clock: Clock,
    lifecycle: Lifecycle | None = None,
    fetch: Fetch | None = None,
    tracing: Tracing | None = None,
) -> Starlette:
    """The bridge as a Starlette app. Nothing global: every dependency comes in here (`fetch`, the
    outbound HTTPS GET that kinds may ask for, defaults to HttpsFetcher; `tracing`, when given, traces every
    callback and publish: see bridge.tracing)."""
    lifecycle = lifecycle or Lifecycle()
    metrics = BridgeMetrics(registry)
    health = Health(publisher, lifecycle)
    topics = settings.kafka.topics.by_type()
    accepted_log = AcceptedLog(logging.getLogger("bridge.http.endpoint"))
    deadlines = Deadlines()
    fetch = fetch or HttpsFetcher()
    endpoints: dict[str, CallbackEndpoint] = {}
    for instance in settings.providers:
        provider = build(instance, clock)
        metrics.add_instance(provider.kind, instance.name, topics=topics)
        guard = Guard(instance, clock, timestamped=provider.signs_time())
        metrics.watch_replays(provider.kind, instance.name, guard.replays)
        pipeline = Pipeline(
            provider, Envelope(instance.cloudevents_source, topics, settings.kafka.type_prefix, instance.include_raw,
                               settings.kafka.content_mode),
            guard, publisher,
            metrics, clock, dead_letter_topic=settings.kafka.topics.dead_letter, fetch=fetch,
            tracing=tracing,
        )
        intake = Intake(instance, methods=provider.methods, media_types=provider.media_types,
                        server=settings.server, lifecycle=lifecycle, clock=clock)
        endpoints[instance.path] = CallbackEndpoint(
            intake, pipeline, reply_deadline=instance.reply_deadline,
            body_timeout=min(settings.server.body_timeout_seconds, instance.reply_deadline),
            lifecycle=lifecycle, deadlines=deadlines, metrics=metrics, accepted_log=accepted_log, tracing=tracing,
        )

    metrics.watch_health(
        ready=lambda: health.ready, connected=lambda: publisher.ready,
        connect_failures=lambda: publisher.connect_failures,
    )
    metrics.watch_in_flight(lambda: lifecycle.in_flight)

    routes: list[BaseRoute] = [
        Route("/livez", health.livez, methods=["GET", "HEAD"]),
        Route("/readyz", health.readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics.asgi(), methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        try:
            yield
        finally:
            lifecycle.draining = True
            await publisher.stop()
            accepted_log.flush()

    middleware = [Middleware(RequestIds)]
    app = BridgeApp(endpoints, lifecycle, routes=routes, middleware=middleware, lifespan=lifespan)
    app.router.default = NotFound(metrics)
    return app


class BridgeApp(Starlette):
    """Starlette, with the callback paths taken first: a callback goes straight to its endpoint, skipping
    Starlette's error middleware (an endpoint turns every error into a reply itself) and its send wrapper,
    four coroutines per callback, and its regex routes. Everything else goes through Starlette as usual.

    Because callbacks skip Starlette's middleware, what every reply needs lives here: while draining, every
    reply, a callback's or any other, says `Connection: close`, so keep-alive clients reconnect elsewhere
    instead of being cut off. And add_middleware() is refused: the callbacks would never pass through it."""

    def __init__(self, endpoints: dict[str, CallbackEndpoint], lifecycle: Lifecycle, **options: Any) -> None:
        super().__init__(**options)
        self.callbacks = endpoints
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A coroutine function, as servers expect: uvicorn takes an app whose __call__ is not one for ASGI 2.
        if scope["type"] == "http":
            if self.lifecycle.draining:
                send = with_header(send, (b"connection", b"close"))
            endpoint = endpoint_for(self.callbacks, scope)
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def add_middleware(self, middleware_class: Any, *args: Any, **kwargs: Any) -> None:
        raise TypeError("BridgeApp sends callbacks straight to their endpoints, past any Starlette middleware: "
                        "give create_app() what every reply needs instead")


def with_header(send: Send, header: tuple[bytes, bytes]) -> Send:
    """`send`, adding `header` to the response's start (a new message: the app's own is left as it was)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return sending


def endpoint_for(endpoints: dict[str, CallbackEndpoint], scope: Scope) -> CallbackEndpoint | None:
    """The instance endpoint of `<path>` or `<path>/<token>` (the token then in the scope's path_params)."""
    path: str = scope["path"]
    endpoint = endpoints.get(path)
    if endpoint is not None:
        return endpoint
    head, _, token = path.rpartition("/")
    endpoint = endpoints.get(head)
    if endpoint is not None and token:
        scope["path_params"] = {"token": token}
        return endpoint
    return None


class RequestIds:
    """Gives the replies of everything but callbacks (health, metrics, unknown paths) an `X-Request-Id` too;
    callbacks never get here (BridgeApp sends them straight to their endpoint, which sets its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"x-request-id"), None)
            send = with_header(send, (b"x-request-id", request_id(given).encode("latin-1", "replace")))
        await self.app(scope, receive, send)


class NotFound:
    """Unknown paths: a JSON 404, counted, and never echoing the path (it may hold a token)."""

    def __init__(self, metrics: BridgeMetrics) -> None:
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self._metrics.callback_rejected(NO_ACCOUNT, NO_ACCOUNT, "not_found")
        response = JSONResponse({"error": "not_found"}, status_code=404)
        await response(scope, receive, send)
