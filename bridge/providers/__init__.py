"""The provider registry: the single source of truth for every kind the bridge speaks.

Config (the settings model of each kind), the endpoint (methods, media types, checks), dead
letters (safe headers), `send` and `dev` (samples, signing), the chart's kind enum, the example
configuration and the README's provider tables (`make docs`) all read this map; tests fail when
any of them drifts from it. Adding a kind is one line in KINDS: `<module>:<class>` under
bridge/providers/.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from bridge.clock import Clock
from bridge.providers.adapter import ProviderAdapter
from bridge.providers.base import InstanceSettings, Provider

KINDS: Final = (
    "tencent:TencentProvider",
    "nxcloud:NxCloudProvider",
    "bird:BirdProvider",
    "sinch:SinchProvider",
    "telnyx:TelnyxProvider",
    "plivo:PlivoProvider",
    "alibaba:AlibabaProvider",
    "twilio:TwilioProvider",
    "vonage:VonageProvider",
    "infobip:InfobipProvider",
    "africastalking:AfricasTalkingProvider",
    "bandwidth:BandwidthProvider",
    "huawei:HuaweiProvider",
    "azure:AzureProvider",
    "aws_sns:AwsSnsProvider",
)


def _load(spec: str) -> type[Provider[Any, Any]]:
    module, _, name = spec.partition(":")
    cls: type[Provider[Any, Any]] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls


PROVIDERS: dict[str, type[Provider[Any, Any]]] = {cls.kind: cls for cls in map(_load, KINDS)}


def build(settings: InstanceSettings, clock: Clock) -> ProviderAdapter:
    """The provider of one configured instance (its settings came from its kind's model), behind the typed seam."""
    return ProviderAdapter(PROVIDERS[settings.kind](settings, clock))


def dev_instances() -> list[dict[str, Any]]:
    """One instance of every kind with its well-known development secrets (`dev`, `send`)."""
    return [
        {"kind": kind, "name": f"{kind}-dev", "path": f"/callbacks/{kind}/dev", **cls.dev_instance}
        for kind, cls in PROVIDERS.items()
    ]


__all__ = ["KINDS", "PROVIDERS", "Provider", "ProviderAdapter", "build", "dev_instances"]
