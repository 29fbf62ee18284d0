"""Settings: one YAML file, `${VAR}` and `${file:PATH}` substitution, validated into a frozen tree."""

from __future__ import annotations

import difflib
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from bridge.errors import ConfigError
from bridge.http.settings import ServerSettings
from bridge.kafka.settings import KafkaSettings
from bridge.providers import PROVIDERS
from bridge.providers.base import InstanceSettings, StrictModel
from bridge.spool.settings import COMMIT_RESERVE_SECONDS, SpoolSettings

RESERVED_PATHS: Final = ("/livez", "/readyz", "/metrics")  # the app's own routes (app.py)
MIN_REPLY_WORK_SECONDS: Final = 0.05  # the least an instance's reply deadline must leave for the work itself

_SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LoggingSettings(StrictModel):
    """Log lines: JSON on stdout."""

    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(StrictModel):
    """The whole configuration: built once at start-up and never changed."""

    server: ServerSettings = ServerSettings()
    kafka: KafkaSettings
    logging: LoggingSettings = LoggingSettings()
    providers: Annotated[tuple[InstanceSettings, ...], Field(min_length=1)]
    spool: SpoolSettings | None = None  # the durable spool (bridge/spool/); off by default

    @field_validator("providers", mode="before")
    @classmethod
    def _by_kind(cls, value: Any) -> Any:
        """Each instance is validated by its kind's settings model, looked up in the registry."""
        if not isinstance(value, list | tuple):
            return value
        return tuple(item if isinstance(item, InstanceSettings) else instance_model(item).model_validate(item)
                     for item in value)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        names = [p.name for p in self.providers]
        paths = [p.path for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError("providers: instance names must be unique")
        for i, path in enumerate(paths):
            for j, other in enumerate(paths):
                if i != j and (path == other or path.startswith(other + "/")):
                    raise ValueError(f"providers: path of providers[{i}] overlaps providers[{j}]")
            if any(path == r or path.startswith(r + "/") for r in RESERVED_PATHS):
                raise ValueError(f"providers: path of providers[{i}] is reserved ({', '.join(RESERVED_PATHS)})")
        if self.kafka.produce_timeout_seconds >= self.server.reply_deadline_seconds:
            raise ValueError("kafka.produce_timeout_seconds must be shorter than server.reply_deadline_seconds")
        if self.server.body_timeout_seconds >= self.server.reply_deadline_seconds:
            raise ValueError("server.body_timeout_seconds must be shorter than server.reply_deadline_seconds")
        resolved = tuple(
            p if p.reply_deadline_seconds is not None
            else p.model_copy(update={"reply_deadline_seconds": self.server.reply_deadline_seconds})
            for p in self.providers
        )
        object.__setattr__(self, "providers", resolved)  # frozen: resolved once, here, while loading
        return self

    def timing_problems(self) -> list[tuple[str, str]]:
        """Each instance's effective reply deadline held against the timeouts that run inside it: one problem
        per instance and rule. The produce and body timeouts may be longer (a provider that wants its answer
        fast, like Alibaba, gets it: the wait is cut at the deadline); what cannot fit is refused."""
        problems: list[tuple[str, str]] = []
        for index, instance in enumerate(self.providers):
            deadline = instance.reply_deadline
            where = f"providers[{index}].reply_deadline_seconds"
            if deadline <= MIN_REPLY_WORK_SECONDS:
                problems.append((where, f"must be longer than {MIN_REPLY_WORK_SECONDS} s (verify, parse, store)"))
            if self.spool is not None and deadline <= COMMIT_RESERVE_SECONDS + MIN_REPLY_WORK_SECONDS:
                problems.append((where, f"must leave the spool its {COMMIT_RESERVE_SECONDS} s commit reserve "
                                        f"beyond {MIN_REPLY_WORK_SECONDS} s of work (spool is on)"))
        return problems


def instance_model(item: Any) -> type[InstanceSettings]:
    """The settings model of a provider instance's `kind`; ValueError names the known kinds."""
    kind = item.get("kind") if isinstance(item, dict) else None
    provider = PROVIDERS.get(kind) if isinstance(kind, str) else None
    if provider is None:
        raise ValueError(f"kind must be one of: {', '.join(sorted(PROVIDERS))}")
    return provider.settings_model


def load(
    path: str | Path, environ: Mapping[str, str] | None = None, *, default_providers: list[Any] | None = None
) -> Settings:
    """Read, substitute and validate a configuration file; ConfigError lists every problem.
    `default_providers` stand in when the file lists none (`dev`: one instance of every kind)."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("(file)", f"cannot read {path.name}: {type(exc).__name__}")]) from exc
    document = read_yaml(text)
    if default_providers is not None and "providers" not in document:
        document["providers"] = default_providers
    return validate(document, os.environ if environ is None else environ, base_dir=path.parent)


def parse(text: str, environ: Mapping[str, str], *, base_dir: Path = Path(".")) -> Settings:
    """Validate configuration text; `environ` feeds `${VAR}`, `base_dir` anchors `${file:...}`."""
    return validate(read_yaml(text), environ, base_dir=base_dir)


def read_yaml(text: str) -> dict[str, Any]:
    """The configuration document, before substitution and validation."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError([(where, "not valid YAML")]) from exc
    if not isinstance(document, dict):
        raise ConfigError([("(file)", "must be a mapping")])
    return document


def validate(document: dict[str, Any], environ: Mapping[str, str], *, base_dir: Path = Path(".")) -> Settings:
    """Substitute and validate a configuration document; ConfigError lists every problem."""
    problems: list[tuple[str, str]] = []
    substituted = _substitute(document, "", environ, base_dir, problems)
    unset = {path for path, _ in problems}  # one problem per cause: not also "too short" for the ""
    instances, instance_errors = _instances(substituted.get("providers"))
    if instance_errors:
        substituted = {**substituted, "providers": instances}
    errors = list(instance_errors)
    try:
        settings = Settings.model_validate(substituted)
    except ValidationError as exc:
        own = exc.errors(include_input=False)
        if instance_errors:
            own = [e for e in own if e["loc"][:1] != ("providers",)]
        errors.extend(_error(Settings, tuple(e["loc"]), e["type"], e["msg"]) for e in own)
        settings = None
    failed = [loc for loc, _, _ in errors]
    suggested = {(*loc[:-1], name) for loc, _, (_, name) in errors if name}
    for loc, kind, (message, _) in errors:
        path = _dotted(loc)
        if path in unset or _counted_short(kind, loc, failed) or (kind == "missing" and loc in suggested):
            continue  # one problem per cause: a misspelt required key is not also "Field required"
        problems.append((path, message))
    if settings is not None:
        problems.extend(settings.timing_problems())
    if problems or settings is None:
        raise ConfigError(sorted(set(problems)))  # one ${VAR} unset twice in a value is one problem
    return settings


_Error = tuple[tuple[int | str, ...], str, tuple[str, str | None]]


def _error(model: Any, loc: tuple[int | str, ...], kind: str, message: str) -> _Error:
    """An error with its message; an unknown key's names the nearest known key, when one is close."""
    return loc, kind, _suggest(model, loc) if kind == "extra_forbidden" else (message, None)


def _instances(items: Any) -> tuple[list[Any], list[_Error]]:
    """Validate each provider instance by its kind's model: the valid ones and every error, with paths."""
    if not isinstance(items, list):
        return [], []
    valid: list[Any] = []
    errors: list[_Error] = []
    for index, item in enumerate(items):
        try:
            model = instance_model(item)
            valid.append(model.model_validate(item))
        except ValidationError as exc:
            for e in exc.errors(include_input=False):
                loc, kind, message = _error(model, tuple(e["loc"]), e["type"], e["msg"])
                errors.append((("providers", index, *loc), kind, message))
        except ValueError as exc:
            errors.append((("providers", index, "kind"), "value_error", (str(exc), None)))
    return valid, errors


def _suggest(model: Any, loc: tuple[int | str, ...]) -> tuple[str, str | None]:
    """"unknown key", with the nearest known key of that place when one is close (and that key)."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        model = _model_of(fields[part].annotation) if part in fields else None
    known = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return (f"unknown key; did you mean '{close[0]}'?", close[0]) if close else ("unknown key", None)


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _substitute(node: Any, path: str, environ: Mapping[str, str], base: Path, problems: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k), environ, base, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, f"{path}[{i}]", environ, base, problems) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("file:"):
            file = base / token[5:]
            try:
                return file.read_text("utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError):
                problems.append((path, f"secret file {token[5:]!r} cannot be read"))
                return ""
        name, _, default = token.partition(":-")
        if not _VARIABLE.match(name):
            problems.append((path, f"${{{token}}} is not a variable reference"))
            return ""
        if name in environ:
            return environ[name]
        if ":-" in token:
            return default
        problems.append((path, f"environment variable {name} is not set"))
        return ""

    return _SUBSTITUTION.sub(replace, node)


def _counted_short(kind: str, loc: tuple[int | str, ...], failed: list[tuple[int | str, ...]]) -> bool:
    """pydantic also calls a list "too short" when it counts only its valid items; that names the wrong problem."""
    return kind == "too_short" and any(len(other) > len(loc) and other[: len(loc)] == loc for other in failed)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(root)"
