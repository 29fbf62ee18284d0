"""The provider registry is the single source: the chart, the README and the docs follow it."""

from __future__ import annotations

import json
import re

from bridge.providers import PROVIDERS
from tests.conftest import ROOT

SCHEMA = ROOT / "helm" / "sms-bridge" / "values.schema.json"


def test_the_charts_kind_enum_is_the_registry() -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    providers = schema["properties"]["config"]["properties"]["providers"]["items"]["properties"]["kind"]
    assert sorted(providers["enum"]) == sorted(PROVIDERS), "add the kind to helm/sms-bridge/values.schema.json"


def test_the_readme_provider_table_has_one_row_per_registered_kind() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("### Provider kinds"):]
    section = section[: section.index("\n#")]
    rows = re.findall(r"^\| \[`([a-z0-9_-]+)`\]\(docs/providers/\1\.md\) \|", section, re.M)
    assert sorted(rows) == sorted(PROVIDERS)
    assert len(rows) == len(set(rows))


def test_every_kind_has_its_page_fixtures_and_tests() -> None:
    for kind in PROVIDERS:
        assert (ROOT / "docs" / "providers" / f"{kind}.md").is_file(), kind
        assert (ROOT / "tests" / "unit" / "providers" / f"test_{kind}.py").is_file(), kind
        assert any((ROOT / "tests" / "fixtures" / kind).iterdir()), kind


def test_the_example_configuration_has_a_commented_instance_of_every_kind() -> None:
    example = (ROOT / "config" / "bridge.example.yaml").read_text("utf-8")
    kinds = set(re.findall(r"^\s+- kind: ([a-z0-9_-]+)", example, re.M))
    assert kinds == set(PROVIDERS)
