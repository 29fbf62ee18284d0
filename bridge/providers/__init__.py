"""The provider registry: the single source of truth for every kind the bridge speaks.

Config (the settings model of each kind), the endpoint (methods, media types, checks), dead
letters (safe headers), `send` and `dev` (samples, signing), the chart's kind enum and the
README's provider table all read this map; tests fail when any of them drifts from it.
"""

from __future__ import annotations

from typing import Any

from bridge.clock import Clock
from bridge.providers.alibaba import AlibabaProvider
from bridge.providers.aws_sns import AwsSnsProvider
from bridge.providers.base import InstanceSettings, Provider
from bridge.providers.bird import BirdProvider
from bridge.providers.nxcloud import NxCloudProvider
from bridge.providers.plivo import PlivoProvider
from bridge.providers.sinch import SinchProvider
from bridge.providers.telnyx import TelnyxProvider
from bridge.providers.tencent import TencentProvider
from bridge.providers.twilio import TwilioProvider
from bridge.providers.vonage import VonageProvider

AnyProvider = Provider[Any, Any]

PROVIDERS: dict[str, type[AnyProvider]] = {
    cls.kind: cls
    for cls in (
        TencentProvider,
        NxCloudProvider,
        BirdProvider,
        SinchProvider,
        TelnyxProvider,
        PlivoProvider,
        AlibabaProvider,
        TwilioProvider,
        VonageProvider,
        AwsSnsProvider,
    )
}


def build(settings: InstanceSettings, clock: Clock) -> AnyProvider:
    """The provider object for one configured instance (its settings came from its kind's model)."""
    return PROVIDERS[settings.kind](settings, clock)


def dev_instances() -> list[dict[str, Any]]:
    """One instance of every kind with its well-known development secrets (`dev`, `send`)."""
    return [
        {"kind": kind, "name": f"{kind}-dev", "path": f"/callbacks/{kind}/dev", **cls.dev_instance}
        for kind, cls in PROVIDERS.items()
    ]


__all__ = ["PROVIDERS", "AnyProvider", "Provider", "build", "dev_instances"]
