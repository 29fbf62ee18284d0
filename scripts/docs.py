"""`make docs`: writes every copy of the provider registry (README tables, chart enum, example instances), and the
AsyncAPI document of the topics (docs/asyncapi.yaml, from the event types and the shipped schemas).

The registry (`bridge.providers.PROVIDERS`, in its order) gives the kinds, their titles and their
status mappings; each kind's page, `docs/providers/<kind>.md`, gives in its "At a glance" section
the prose the README's tables show and the instance the example configuration shows. Only the
regions between `generated: <name> (make docs)` and `end generated` markers are rewritten, so
everything around them stays hand-written.

    python -m scripts.docs           # rewrite the stale files
    python -m scripts.docs --check   # exit 1 naming the stale files (the unit tests run this)
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from bridge import providers
from bridge.events import Status
from bridge.kafka import asyncapi as asyncapi_document
from bridge.providers import PROVIDERS, Provider

ROOT: Final = Path(__file__).resolve().parents[1]
README: Final = "README.md"
SCHEMA: Final = "helm/sms-bridge/values.schema.json"
CHART: Final = "helm/sms-bridge/Chart.yaml"
EXAMPLE: Final = "config/bridge.example.yaml"
ASYNCAPI: Final = "docs/asyncapi.yaml"
GLANCE: Final = "## At a glance"
KIND_FACTS: Final = ("events", "verification", "reply", "retries")
CONSOLE: Final = "where the URL goes"
COPY: Final = "what to copy into the instance"
CHART_DESCRIPTION: Final = "SMS provider callbacks ({}) verified and published to Kafka as CloudEvents"

Registry = Mapping[str, type[Provider[Any, Any]]]


class DocsError(Exception):
    """A page or a file cannot be generated from: says which, and what is missing."""


@dataclass(frozen=True)
class Glance:
    """The "At a glance" section of a kind's page: its table (label -> cell) and its example instance."""

    page: str
    facts: Mapping[str, str]
    console_anchor: str
    instance: str


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def table_cells(line: str) -> list[str]:
    """The cells of one Markdown table row (an escaped `\\|` stays inside its cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def glance(root: Path, kind: str) -> Glance:
    """Read the "At a glance" section of docs/providers/<kind>.md."""
    page = f"docs/providers/{kind}.md"
    path = root / page
    if not path.is_file():
        raise DocsError(f"{page}: missing (every kind has its page)")
    text = path.read_text("utf-8")
    if f"\n{GLANCE}\n" not in text:
        raise DocsError(f"{page}: no '{GLANCE}' section (README, Adding a provider kind, says what it holds)")
    section = text.split(f"\n{GLANCE}\n", 1)[1].split("\n## ", 1)[0]
    facts: dict[str, str] = {}
    anchor = None
    for line in section.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        label, *rest = table_cells(line)
        if linked := re.fullmatch(r"\[([^]]+)\]\(#([\w-]+)\)", label):
            label, anchor = linked.group(1), linked.group(2)
        if label:
            facts[label] = rest[0] if rest else ""
    missing = [label for label in (*KIND_FACTS, CONSOLE, COPY) if not facts.get(label)]
    if missing:
        raise DocsError(f"{page}: the '{GLANCE}' table lacks {', '.join(missing)}")
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    if anchor is None or anchor not in anchors:
        raise DocsError(f"{page}: '{CONSOLE}' must link a heading of the page, e.g. [{CONSOLE}](#configure-{kind})")
    blocks = re.findall(r"^```yaml\n(.*?)^```$", section, re.M | re.S)
    if len(blocks) != 1:
        raise DocsError(f"{page}: the '{GLANCE}' section needs one ```yaml block (the example instance)")
    instance = blocks[0]
    try:
        document = yaml.safe_load(instance)
    except yaml.YAMLError as exc:
        raise DocsError(f"{page}: the example instance is not YAML: {exc}") from exc
    listed = document.get("providers") if isinstance(document, dict) else None
    if not (isinstance(listed, list) and len(listed) == 1 and isinstance(listed[0], dict)
            and listed[0].get("kind") == kind):
        raise DocsError(f"{page}: the example must be `providers:` with one instance of kind {kind}")
    body = instance.split("providers:", 1)[1].lstrip(" ").removeprefix("\n")  # its lines, 2-space indented
    return Glance(page, facts, anchor, body.rstrip("\n"))


def status_codes(cls: type[Provider[Any, Any]]) -> dict[Status, list[str]]:
    """A kind's provider codes by status: its declared `statuses`, or else (until every kind declares it)
    every code -> Status dict at the top level of its module and its helpers (`<kind>_*.py`)."""
    declared: Mapping[str, Status] | None = getattr(cls, "statuses", None)
    if declared is not None:
        tables: list[Mapping[str, Status]] = [declared]
    else:
        names = [cls.__module__] + [f"{providers.__name__}.{m.name}" for m in pkgutil.iter_modules(providers.__path__)
                                    if m.name.startswith(f"{cls.kind}_")]
        tables = [value for name in names for value in vars(importlib.import_module(name)).values()
                  if isinstance(value, dict) and value and all(isinstance(v, Status) for v in value.values())]
    codes: dict[Status, list[str]] = {status: [] for status in Status}
    for table in tables:
        for code, status in table.items():
            if code not in codes[status]:
                codes[status].append(code)
    return codes


def row(cells: Iterable[str]) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def provider_list(registry: Registry) -> str:
    titles = [f"**{cls.title}**" for cls in registry.values()]
    return (", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else "".join(titles)) + "."


def kinds_table(registry: Registry, pages: Mapping[str, Glance]) -> str:
    lines = ["| kind | provider | events | verification | reply | retries |", "|---|---|---|---|---|---|"]
    for kind, cls in registry.items():
        facts = pages[kind].facts
        lines.append(row([f"[`{kind}`]({pages[kind].page})", cls.title, *(facts[label] for label in KIND_FACTS)]))
    return "\n".join(lines)


def status_table(registry: Registry, pages: Mapping[str, Glance]) -> str:
    """Each kind's codes by status; a code after which the provider may send a later status (`final: false`
    in its `finality`) is in the last column instead, with its status when that is not `unknown`."""
    lines = ["| kind | " + " | ".join(Status) + " (final) | not final: a later status follows |",
             "|---" * (2 + len(Status)) + "|"]
    for kind, cls in registry.items():
        codes = status_codes(cls)
        finality: Mapping[str, bool] = getattr(cls, "finality", {})
        facts = pages[kind].facts
        rules = {status: facts[status] for status in Status if status in facts}
        if any(codes.values()) and rules:
            raise DocsError(f"{pages[kind].page}: the code maps the statuses; drop the table's "
                            f"{', '.join(rules)} rows")
        if not any(codes.values()) and not rules:
            raise DocsError(f"{pages[kind].page}: {kind} maps no codes, so its '{GLANCE}' table must say "
                            "the rule in rows named delivered, undelivered, unknown")
        cells = [rules.get(status) or ", ".join(f"`{code}`" for code in codes[status] if finality.get(code, False))
                 for status in Status]
        later = ", ".join(f"`{code}`" + ("" if status is Status.UNKNOWN else f" ({status})")
                          for status in Status for code in codes[status] if not finality.get(code, False))
        lines.append(row([f"`{kind}`", *cells, later]))
    return "\n".join(lines)


def console_table(registry: Registry, pages: Mapping[str, Glance]) -> str:
    lines = [f"| kind | {CONSOLE} | {COPY} |", "|---|---|---|"]
    for kind in registry:
        page = pages[kind]
        lines.append(row([f"[`{kind}`]({page.page}#{page.console_anchor})", page.facts[CONSOLE], page.facts[COPY]]))
    return "\n".join(lines)


def replace_region(text: str, name: str, body: str, *, where: str, comment: tuple[str, str]) -> str:
    """`text` with the lines between the `generated: <name>` and `end generated` markers set to `body`."""
    start, end = re.escape(comment[0]), (rf" {re.escape(comment[1])}" if comment[1] else "")
    pattern = re.compile(
        rf"^([ \t]*{start} generated: {re.escape(name)} \(make docs\){end}\n)(.*?)^([ \t]*{start} end generated{end})$",
        re.M | re.S)
    matches = pattern.findall(text)
    if len(matches) != 1:
        raise DocsError(f"{where}: needs exactly one '{comment[0]} generated: {name} (make docs)' ... "
                        f"'{comment[0]} end generated' region, found {len(matches)}")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(3), text)


MARKDOWN: Final = ("<!--", "-->")
YAML: Final = ("#", "")


def readme(text: str, registry: Registry, pages: Mapping[str, Glance]) -> str:
    for name, body in (("provider list", provider_list(registry)), ("provider kinds", kinds_table(registry, pages)),
                       ("status mapping", status_table(registry, pages)),
                       ("console set-up", console_table(registry, pages))):
        text = replace_region(text, name, body, where=README, comment=MARKDOWN)
    return text


def schema(text: str, registry: Registry, pages: Mapping[str, Glance]) -> str:
    document: dict[str, Any] = json.loads(text)
    kind = document["properties"]["config"]["properties"]["providers"]["items"]["properties"]["kind"]
    kind["enum"] = list(registry)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def chart(text: str, registry: Registry, pages: Mapping[str, Glance]) -> str:
    description = CHART_DESCRIPTION.format(", ".join(cls.title for cls in registry.values()))
    return replace_region(text, "provider list", f"description: {json.dumps(description, ensure_ascii=False)}",
                          where=CHART, comment=YAML)


def example(text: str, registry: Registry, pages: Mapping[str, Glance]) -> str:
    body = "\n\n".join(pages[kind].instance for kind in registry)
    return replace_region(text, "provider instances", body, where=EXAMPLE, comment=YAML)


def asyncapi(text: str, registry: Registry, pages: Mapping[str, Glance]) -> str:
    """The whole file: `sms-bridge asyncapi --schema-base ../bridge/schemas/` for the default configuration."""
    return asyncapi_document.render(asyncapi_document.document(schema_base=asyncapi_document.DOCS_SCHEMA_BASE))


Writer = Callable[[str, Registry, Mapping[str, Glance]], str]
FILES: Final[Mapping[str, Writer]] = {README: readme, SCHEMA: schema, CHART: chart, EXAMPLE: example,
                                      ASYNCAPI: asyncapi}


def generate(root: Path = ROOT, registry: Registry = PROVIDERS) -> dict[str, str]:
    """Every generated file (path relative to `root`) with the content it should have."""
    pages = {kind: glance(root, kind) for kind in registry}
    return {name: write((root / name).read_text("utf-8"), registry, pages) for name, write in FILES.items()}


def stale(root: Path = ROOT, registry: Registry = PROVIDERS) -> list[str]:
    """The generated files whose committed content differs from what the registry gives."""
    return [name for name, text in generate(root, registry).items() if (root / name).read_text("utf-8") != text]


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(prog="make docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the stale files")
    args = parser.parse_args(argv)
    try:
        files = generate(root)
    except DocsError as exc:
        print(f"make docs: {exc}", file=sys.stderr)
        return 2
    changed = [name for name, text in files.items() if (root / name).read_text("utf-8") != text]
    if args.check:
        if changed:
            print(f"stale, run `make docs`: {', '.join(changed)}", file=sys.stderr)
        return 1 if changed else 0
    for name in changed:
        (root / name).write_text(files[name], "utf-8")
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
