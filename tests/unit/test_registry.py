"""The provider registry is the single source: the chart, the README and the docs follow it."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import sys

import pytest

from bridge import providers
from bridge.events import Status
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


def readme_section(heading: str) -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index(heading) + len(heading):]
    return section[: section.index("\n#")]


def status_maps(kind: str) -> list[dict[str, Status]]:
    """Every code -> Status mapping of a kind: module-level dicts in its module and its helpers (<kind>_*)."""
    names = [PROVIDERS[kind].__module__]
    names += [f"{providers.__name__}.{m.name}" for m in pkgutil.iter_modules(providers.__path__)
              if m.name.startswith(f"{kind}_")]
    return [value for name in names for value in vars(importlib.import_module(name)).values()
            if isinstance(value, dict) and value and all(isinstance(v, Status) for v in value.values())]


def test_the_readme_status_mapping_is_the_codes_mapping_for_every_kind() -> None:
    rows = re.findall(r"^\| `([a-z0-9_-]+)`[^|]* \|([^|]*)\|([^|]*)\|([^|]*)\|$", readme_section("#### Status mapping"),
                      re.M)
    assert {kind for kind, *_ in rows} == set(PROVIDERS)
    for kind in PROVIDERS:
        documented = {(code, status) for k, *cells in rows if k == kind
                      for status, cell in zip(Status, cells, strict=True) for code in re.findall(r"`([^`]+)`", cell)}
        maps = status_maps(kind)
        if not maps:  # a kind without a code table (Alibaba's boolean `success`) documents its rule instead
            assert documented, kind
            continue
        assert documented == {(code, status) for table in maps for code, status in table.items()}, kind


def test_the_readme_console_table_has_one_row_per_kind_linking_its_page() -> None:
    rows = re.findall(r"^\| \[`([a-z0-9_-]+)`\]\(docs/providers/\1\.md#[a-z0-9-]+\) \|",
                      readme_section("#### Setting up each provider's console"), re.M)
    assert sorted(rows) == sorted(PROVIDERS)


@pytest.mark.parametrize(("kind", "loads"), [("tencent", set()), ("twilio", set()), ("vonage", {"jwt", "cryptography"}),
                                             ("bird", {"jwt", "cryptography"}), ("telnyx", {"cryptography"}),
                                             ("aws_sns", {"cryptography"})])
def test_pyjwt_and_cryptography_load_only_with_an_instance_that_needs_them(kind: str, loads: set[str]) -> None:
    """Their OpenSSL bindings cost ~10 MB of RSS per worker: the registry and the server do not import them."""
    script = (
        "import sys, yaml; import bridge.cli.serve; from bridge.config import parse;"
        " from bridge.providers import build, dev_instances; from bridge.clock import SystemClock\n"
        "heavy = lambda: {m.split('.')[0] for m in sys.modules} & {'jwt', 'cryptography'}\n"
        "before = heavy()\n"
        f"doc = {{'kafka': {{'bootstrap_servers': ['127.0.0.1:9']}}, 'providers': [i for i in dev_instances()"
        f" if i['kind'] == {kind!r}]}}\n"
        "build(parse(yaml.safe_dump(doc), {}).providers[0], SystemClock())\n"
        "print(sorted(before), sorted(heavy()))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == f"[] {sorted(loads)}", result.stdout
