"""Every copy of the provider registry (README tables, chart enum and description, example instances) is what
`make docs` (scripts/docs.py) writes from the registry and the kinds' pages."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bridge.config import load
from bridge.providers import PROVIDERS, Provider
from bridge.providers.telnyx import TelnyxProvider
from scripts import docs
from tests.conftest import ROOT


def test_the_committed_copies_are_what_make_docs_writes() -> None:
    assert docs.stale() == [], "run `make docs` (python -m scripts.docs) and commit the files it names"


def test_the_example_configuration_loads_one_instance_of_every_kind_in_registry_order() -> None:
    settings = load(ROOT / docs.EXAMPLE, {})
    assert [instance.kind for instance in settings.providers] == list(PROVIDERS)


def test_every_kind_has_a_status_row_from_its_code_or_its_page() -> None:
    table = docs.status_table(PROVIDERS, {kind: docs.glance(ROOT, kind) for kind in PROVIDERS})
    assert [line.split("`")[1] for line in table.splitlines()[2:]] == list(PROVIDERS)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The files the generator reads and writes, in a scratch checkout."""
    for name in docs.FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "docs", tmp_path / "docs", dirs_exist_ok=True)  # docs/asyncapi.yaml is one of the FILES
    return tmp_path


def test_check_names_a_stale_file_and_make_docs_repairs_it(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    readme = copy / docs.README
    readme.write_text(readme.read_text("utf-8").replace("| `tencent` | `SUCCESS` |", "| `tencent` | `OK` |"), "utf-8")
    schema = copy / docs.SCHEMA
    schema.write_text(schema.read_text("utf-8").replace('"telnyx",\n', ""), "utf-8")
    assert docs.main(["--check"], root=copy) == 1
    assert capsys.readouterr().err == f"stale, run `make docs`: {docs.README}, {docs.SCHEMA}\n"
    assert docs.main([], root=copy) == 0
    assert docs.main(["--check"], root=copy) == 0
    assert (copy / docs.README).read_text("utf-8") == (ROOT / docs.README).read_text("utf-8")


def test_a_page_edit_reaches_the_readme_and_the_example(copy: Path) -> None:
    page = copy / "docs" / "providers" / "telnyx.md"
    text = page.read_text("utf-8")
    page.write_text(text.replace("| retries | no 2xx in 2 s", "| retries | none in 2 s").replace(
        "reply_deadline_seconds: 1.5 ", "reply_deadline_seconds: 1.2 "), "utf-8")
    assert docs.stale(copy) == [docs.README, docs.EXAMPLE]
    written = docs.generate(copy)
    assert "| none in 2 s: up to 3 attempts" in written[docs.README]
    assert "    reply_deadline_seconds: 1.2 " in written[docs.EXAMPLE]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("## At a glance", "## Summary"), "docs/providers/telnyx.md: no '## At a glance' section"),
    (lambda t: t.replace("| retries |", "| retry |"), "the '## At a glance' table lacks retries"),
    (lambda t: t.replace("(#configure-telnyx)", "(#configuring-telnyx)"), "'where the URL goes' must link a heading"),
    (lambda t: t.replace("  - kind: telnyx", "  - kind: telnix"), "one instance of kind telnyx"),
    (lambda t: t.replace("| reply |", "| delivered | `ok` |\n| reply |"), "drop the table's delivered rows"),
])
def test_a_page_without_what_the_generator_needs_is_named(copy: Path, edit: Callable[[str], str], message: str) -> None:
    page = copy / "docs" / "providers" / "telnyx.md"
    page.write_text(edit(page.read_text("utf-8")), "utf-8")
    with pytest.raises(docs.DocsError, match=re.escape(message)):
        docs.generate(copy)


def test_a_file_without_its_markers_is_named(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = copy / docs.EXAMPLE
    example.write_text(example.read_text("utf-8").replace("  # end generated\n", ""), "utf-8")
    assert docs.main(["--check"], root=copy) == 2
    assert "config/bridge.example.yaml: needs exactly one '# generated: provider instances" in capsys.readouterr().err


def test_a_new_kind_needs_its_page_and_then_only_the_generator(copy: Path) -> None:
    class FreshProvider(TelnyxProvider):
        __module__ = TelnyxProvider.__module__  # its status codes are Telnyx's
        kind: ClassVar[str] = "fresh"
        title: ClassVar[str] = "Fresh SMS"

    registry: dict[str, type[Provider[Any, Any]]] = {**PROVIDERS, "fresh": FreshProvider}
    with pytest.raises(docs.DocsError, match=re.escape("docs/providers/fresh.md: missing")):
        docs.generate(copy, registry)
    page = (copy / "docs" / "providers" / "telnyx.md").read_text("utf-8")
    (copy / "docs" / "providers" / "fresh.md").write_text(page.replace("kind: telnyx", "kind: fresh"), "utf-8")
    written = docs.generate(copy, registry)
    assert "| [`fresh`](docs/providers/fresh.md) | Fresh SMS |" in written[docs.README]
    assert "| `fresh` | `delivered` |" in written[docs.README]
    assert "\n  - kind: fresh " in written[docs.EXAMPLE]
    last_kind, last = list(PROVIDERS.items())[-1]  # the fresh kind comes after the registry's last
    assert f"{last.title}, Fresh SMS) verified" in written[docs.CHART]
    assert f'"{last_kind}",\n                  "fresh"\n' in written[docs.SCHEMA]
