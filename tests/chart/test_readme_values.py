"""Every values key the READMEs name exists: in the chart's schema, or, under `config`, in the bridge's
own configuration model. (The README once named `dashboard.enabled`, which the schema rejects.)"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from bridge.config import Settings
from tests.chart.render import CHART, ROOT

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
# Backticked dotted names that are not values keys: Kubernetes label keys and API groups, Kafka
# topic and broker settings, metric names (sms_bridge_...).
NOT_KEYS = re.compile(
    r"^(app\.kubernetes\.io|helm\.sh|kubernetes\.io|topology\.kubernetes\.io|monitoring\.coreos\.com"
    r"|sms\.|max\.message\.bytes$|min\.insync\.replicas$)"
)
FILE_SUFFIX = re.compile(r"\.(ya?ml|json|md|db|txt|svg|tpl|lock|py|toml|sh)$")
PLACEHOLDER = re.compile(r"^<\w[\w ]*>$")


def documents() -> dict[str, str]:
    """The chart README, and the top-level README's chart sections."""
    top = (ROOT / "README.md").read_text()
    deploy = top.split("\n## Deploy to Kubernetes", 1)[1].split("\n## ", 1)[0]
    return {"helm/sms-bridge/README.md": (CHART / "README.md").read_text(), "README.md#deploy": deploy}


def named_keys(markdown: str) -> Iterator[str]:
    """Dotted key paths in backticks (`a.b`, `a.b: value`, `a.<Name>.c`), and `camelKey: value` snippets."""
    for token in re.findall(r"`([^`\n]+)`", markdown):
        match = re.fullmatch(r"([A-Za-z_][\w-]*(?:\.(?:[A-Za-z_][\w-]*|<\w+>))*)(?::(?: .*)?)?", token.strip())
        if not match:
            continue
        path = match.group(1)
        if "." not in path and (":" not in token or path.islower()):
            continue  # a bare word (a value, a reason code) or a label/Chart.yaml snippet (`condition: ...`)
        if NOT_KEYS.match(path) or FILE_SUFFIX.search(path) or path.startswith("sms_bridge"):
            continue
        yield path


def in_schema(node: dict[str, Any], parts: list[str]) -> bool:
    for i, part in enumerate(parts):
        if node.get("type") == "object" and "properties" not in node:
            return True  # a free-form object (e.g. a Kubernetes probe): any key
        properties = node.get("properties", {})
        if PLACEHOLDER.match(part) and properties:
            return all(in_schema(child, parts[i + 1 :]) for child in properties.values())
        if part in properties:
            node = properties[part]
            continue
        extra = node.get("additionalProperties")
        return isinstance(extra, dict)  # a map of names (labels, annotations): any key
    return True


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside Optional/Annotated/Union annotations, if exactly one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        models = [m for m in map(model_of, typing.get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def in_settings(parts: list[str]) -> bool:
    model: type[BaseModel] | None = Settings
    for i, part in enumerate(parts):
        if model is None:
            return False
        field = model.model_fields.get(part)
        if field is None:
            return False
        if part == "providers":
            return True  # a list of provider kinds, each with its own keys
        model = model_of(field.annotation)
        if model is None:
            return i == len(parts) - 1
    return True


def resolves(path: str) -> bool:
    parts = path.split(".")
    if parts[0] in SCHEMA["properties"]:
        if parts[0] == "config" and len(parts) > 1:
            return in_settings(parts[1:])
        return in_schema(SCHEMA, parts)
    return in_settings(parts)  # a bridge configuration key, written without `config.`


@pytest.mark.parametrize("document", sorted(documents()))
def test_every_values_key_a_readme_names_exists(document: str) -> None:
    keys = set(named_keys(documents()[document]))
    assert keys, "no values keys found: the extraction is broken"
    assert sorted(k for k in keys if not resolves(k)) == []


def test_the_check_catches_a_key_the_schema_rejects() -> None:
    text = "`dashboard.enabled: true`, `existingSecret: x`, `maxUnavailable: 1`, `path: /x`, `app.kubernetes.io/name`"
    assert list(named_keys(text)) == ["dashboard.enabled", "existingSecret", "maxUnavailable"]
    assert not resolves("maxUnavailable")
    assert not resolves("dashboard.enabled")
    assert not resolves("prometheusRule.alerts.SlowReply.enabled")
    assert not resolves("config.server.max_in_flights")
    assert resolves("grafanaDashboard.enabled")
    assert resolves("prometheusRule.alerts.<Name>")
    assert resolves("config.server.graceful_shutdown_seconds")
    assert resolves("grafanaDashboard.annotations.grafana_folder")
    assert resolves("readinessProbe.periodSeconds")
