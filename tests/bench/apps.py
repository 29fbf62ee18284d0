"""ASGI app factories that the benchmark serves with the uvicorn command line (`--factory`).

* `ceiling_app`: ceiling A, the same stack as the bridge (uvicorn + Starlette, the same callback
  paths) answering a bare endpoint that reads the body and parses it, nothing more: JSON with
  orjson (NxCloud, Tencent), a form body with `parse_qsl` as the bridge decodes it (Twilio),
  answered with the reply the provider expects.
* `bridge_app`: the production bridge, built from the configuration file named by
  `$BENCH_BRIDGE_CONFIG` exactly as `bridge serve` builds it (`bridge.config.load`,
  `bridge.logs.setup`, `bridge.cli.serve.build_app`); used to run it with `uvicorn --workers N`,
  since the bridge's own `serve` has no workers setting.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

CALLBACK_PATHS = ("/callbacks/nxcloud/test", "/callbacks/tencent/test")
FORM_PATHS = ("/callbacks/twilio/test",)
_NXCLOUD_REPLY = b"success"
_TENCENT_REPLY = orjson.dumps({"result": 0, "errmsg": "OK"})
_TWILIO_REPLY = b'<?xml version="1.0" encoding="UTF-8"?><Response />'  # empty TwiML, as the bridge answers


async def _bare_callback(request: Request) -> Response:
    """Read and parse the body, then answer like the provider expects (no verify, no Kafka)."""
    document = orjson.loads(await request.body())
    if isinstance(document, list):
        return Response(_TENCENT_REPLY, media_type="application/json")
    return Response(_NXCLOUD_REPLY, media_type="text/plain; charset=utf-8")


async def _bare_form_callback(request: Request) -> Response:
    """Read and decode the form body (as bridge.http.intake.decode_params does), answer empty TwiML."""
    parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True, errors="strict")
    return Response(_TWILIO_REPLY, media_type="text/xml; charset=utf-8")


async def _ready(request: Request) -> Response:
    return PlainTextResponse("ready\n")


def ceiling_app() -> Starlette:
    """Ceiling A: the bridge's routes (path and path/{token}) on a bare read + parse endpoint."""
    routes = [Route(p, _bare_callback, methods=["POST"]) for p in CALLBACK_PATHS]
    routes += [Route(p + "/{token}", _bare_callback, methods=["POST"]) for p in CALLBACK_PATHS]
    routes += [Route(p, _bare_form_callback, methods=["POST"]) for p in FORM_PATHS]
    routes.append(Route("/readyz", _ready, methods=["GET"]))
    return Starlette(routes=routes)


def bridge_app() -> Starlette:
    """The bridge app from `$BENCH_BRIDGE_CONFIG`, with the bridge's own JSON logging."""
    from bridge import logs
    from bridge.cli.serve import build_app, tune_gc
    from bridge.config import load

    settings = load(os.environ["BENCH_BRIDGE_CONFIG"])
    logs.setup(settings.logging.level)
    app, _lifecycle = build_app(settings)
    tune_gc()
    return app
