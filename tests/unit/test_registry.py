"""The provider registry is the single source: every kind has its own files, and heavy imports stay per kind.

The copies of the registry in the README, the chart and the example configuration are generated
(`make docs`) and checked by tests/unit/test_generated_docs.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from bridge.clock import SystemClock
from bridge.config import parse
from bridge.providers import PROVIDERS, build, dev_instances
from tests.conftest import ROOT


def test_every_kind_has_its_page_fixtures_and_tests() -> None:
    """The page is also read by `make docs` (tests/unit/test_generated_docs.py); fixtures and tests only here."""
    for kind in PROVIDERS:
        assert (ROOT / "docs" / "providers" / f"{kind}.md").is_file(), kind
        assert (ROOT / "tests" / "unit" / "providers" / f"test_{kind}.py").is_file(), kind
        assert any((ROOT / "tests" / "fixtures" / kind).iterdir()), kind


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


def test_only_the_kinds_with_a_prepare_of_their_own_have_their_callbacks_wait_for_it() -> None:
    """The pipeline awaits prepare() only where a kind fetches key material (its default is a no-op)."""
    document = {"kafka": {"bootstrap_servers": ["127.0.0.1:9"]}, "providers": dev_instances()}
    adapters = [build(instance, SystemClock()) for instance in parse(yaml.safe_dump(document), {}).providers]
    assert {a.kind for a in adapters} == set(PROVIDERS)
    assert {a.kind for a in adapters if a.prepares} == {"aws_sns", "azure"}
