"""The spool's settings (`spool:` in the configuration), apart from its SQLite implementation."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

COMMIT_RESERVE_SECONDS: Final = 0.1
"""Of a callback's reply deadline, kept for the spool's commit when Kafka has not answered in time."""


class SpoolSettings(BaseModel):
    """`spool:` in the configuration; absent means no spool (the bridge stays stateless)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Annotated[str, Field(min_length=1)]
    max_bytes: Annotated[int, Field(ge=64 * 1024, le=1 << 40)] = 256 * 1024 * 1024
    max_age_seconds: Annotated[float, Field(gt=0, le=30 * 86400)] = 86400.0
    budget_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    drain_batch_records: Annotated[int, Field(ge=1, le=10_000)] = 500
    stop_drain_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
