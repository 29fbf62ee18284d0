"""The provider kinds the bridge knows: an explicit map from kind to class and settings model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final

from pydantic import Field

from bridge.clock import Clock
from bridge.providers.base import Provider
from bridge.providers.nxcloud import NxCloudProvider, NxCloudSettings
from bridge.providers.tencent import TencentProvider, TencentSettings

ProviderSettings = Annotated[TencentSettings | NxCloudSettings, Field(discriminator="kind")]

PROVIDERS: Final[Mapping[str, type[TencentProvider] | type[NxCloudProvider]]] = {
    TencentProvider.kind: TencentProvider,
    NxCloudProvider.kind: NxCloudProvider,
}


def build(settings: TencentSettings | NxCloudSettings, clock: Clock) -> Provider:
    """The provider object for one configured instance."""
    if isinstance(settings, TencentSettings):
        return TencentProvider(settings, clock)
    return NxCloudProvider(settings, clock)


__all__ = ["PROVIDERS", "Provider", "ProviderSettings", "build"]
