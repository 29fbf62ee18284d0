"""Promises checked by mypy itself: parse() accepts only what verify() (or restore()) returned, and the hot
path's records (bridge/immutable.py) cannot be changed once built."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

from tests.conftest import ROOT

UNVERIFIED = ROOT / "tests" / "typing" / "unverified_parse.py"
MARK = "# UNVERIFIED"
MUTATED = ROOT / "tests" / "typing" / "mutated_event.py"


def mypy(path: Path) -> tuple[str, int]:
    """mypy with the project's configuration (strict, the pydantic plugin) on one file: its report and exit status."""
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--no-error-summary", str(path)])
    return stdout + stderr, status


def test_mypy_refuses_to_parse_an_unverified_callback() -> None:
    source = UNVERIFIED.read_text("utf-8")
    line = next(n for n, text in enumerate(source.splitlines(), 1) if MARK in text)
    report, status = mypy(UNVERIFIED)
    assert status == 1, report
    errors = [row for row in report.splitlines() if ": error:" in row]
    assert len(errors) == 1, report
    assert f"unverified_parse.py:{line}: error: Argument 1 to \"parse\" of \"ProviderAdapter\" has incompatible type " \
           '"RawCallback"; expected "Verified"  [arg-type]' in errors[0], report


def test_the_same_call_after_verify_type_checks(tmp_path: Path) -> None:
    source = UNVERIFIED.read_text("utf-8")
    assert "adapter.parse(raw)" in source
    verified = tmp_path / "verified_parse.py"
    verified.write_text(source.replace("adapter.parse(raw)", "adapter.parse(adapter.verify(raw))"), "utf-8")
    report, status = mypy(verified)
    assert status == 0, report


@pytest.mark.parametrize("call", ["adapter.accepted(raw)", "adapter.handshake(raw)"])
def test_mypy_refuses_the_other_calls_that_need_a_verified_callback(tmp_path: Path, call: str) -> None:
    other = tmp_path / "unverified_other.py"
    other.write_text(UNVERIFIED.read_text("utf-8").replace("return adapter.parse(raw)", f"{call}\n    return []"),
                     "utf-8")
    report, status = mypy(other)
    assert status == 1 and "[arg-type]" in report, report


def test_mypy_refuses_every_assignment_to_a_built_record() -> None:
    source = MUTATED.read_text("utf-8")
    marked = [n for n, text in enumerate(source.splitlines(), 1) if "# MUTATED" in text]
    report, status = mypy(MUTATED)
    assert status == 1, report
    errors = [row for row in report.splitlines() if ": error:" in row]
    assert [int(row.split(":")[1]) for row in errors] == marked, report
    assert all("is read-only" in row for row in errors), report
