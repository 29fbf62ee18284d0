"""`sms-bridge send` and the dev banner as a newcomer meets them: the dev configuration by path, a full
callback URL given as --url, a 404 with a hint, and banner commands that run without an activated venv."""

from __future__ import annotations

import os
import shlex
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from bridge.cli import dev
from bridge.cli.main import _settings, main
from bridge.cli.send import callback_url
from bridge.errors import UsageError
from tests.conftest import ROOT


class Recorder(BaseHTTPRequestHandler):
    """Answers every POST with `status` and records the path it was posted to."""

    status = 200
    paths: list[str] = []  # noqa: RUF012 (one list per test: the fixture resets it)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        Recorder.paths.append(self.path)
        self.send_response(Recorder.status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.paths, Recorder.status = [], 200
    httpd = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_shipped_dev_configuration_passes_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config" / "bridge.dev.yaml")]) == 0
    out = capsys.readouterr().out
    assert ": ok;" in out and "twilio-dev (twilio, /callbacks/twilio/dev)" in out


def test_the_dev_configuration_by_path_is_read_as_dev_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    by_path = _settings("config/bridge.dev.yaml")
    assert [p.name for p in by_path.providers] == [p.name for p in _settings(None).providers]


def test_another_file_without_providers_is_still_refused(tmp_path: Path) -> None:
    copy = tmp_path / "bridge.yaml"
    copy.write_text((ROOT / "config" / "bridge.dev.yaml").read_text("utf-8"), "utf-8")
    with pytest.raises(UsageError, match="providers"):
        _settings(str(copy))


def test_send_with_the_dev_configuration_by_path_posts_the_sample(server: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "twilio-dev", "--config", str(ROOT / "config" / "bridge.dev.yaml"), "--url", server]) == 0
    assert Recorder.paths == ["/callbacks/twilio/dev"]
    assert capsys.readouterr().out.startswith("HTTP 200")


@pytest.mark.parametrize("suffix", ["", "/"])
def test_send_given_the_full_callback_url_posts_to_it(server: str, suffix: str) -> None:
    assert main(["send", "twilio-dev", "--url", f"{server}/callbacks/twilio/dev{suffix}"]) == 0
    assert Recorder.paths == ["/callbacks/twilio/dev"]


def test_send_given_another_instances_callback_url_says_it_takes_the_base_url() -> None:
    settings = _settings(None)
    tencent = next(p for p in settings.providers if p.name == "tencent-dev")
    with pytest.raises(UsageError, match=r"--url takes the bridge's base URL \(http://127\.0\.0\.1:8080\)"):
        callback_url(settings, tencent, "http://127.0.0.1:8080/callbacks/nxcloud/dev")
    assert callback_url(settings, tencent, "http://127.0.0.1:8080/") == "http://127.0.0.1:8080/callbacks/tencent/dev"
    assert callback_url(settings, tencent, "https://h.example/sms") == "https://h.example/sms/callbacks/tencent/dev"


def test_a_404_answer_says_where_it_posted_and_that_url_is_the_base(server: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    Recorder.status = 404
    assert main(["send", "tencent-dev", "--url", f"{server}/wrong"]) == 1
    out = capsys.readouterr().out
    assert f"hint: posted to {server}/wrong/callbacks/tencent/dev" in out and "base URL" in out


def test_the_banner_command_is_the_script_beside_the_interpreter_so_it_runs_without_activating() -> None:
    program = dev.command()
    argv = shlex.split(program)
    assert os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK)
    assert Path(argv[0]).parent == Path(os.path.abspath(sys.executable)).parent
    banner = dev.banner(_settings(None), "127.0.0.1:9092", 8080, None)
    sends = [line.strip() for line in banner.splitlines() if " send " in line and "--action" in line]
    assert sends and all(line.startswith(program + " send ") for line in sends)
    assert f"(also: {program} tail --bootstrap 127.0.0.1:9092)" in banner


def test_without_a_script_beside_the_interpreter_the_banner_uses_python_dash_m(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    assert dev.command() == f"{tmp_path / 'python3'} -m bridge"
