"""The CLI as a newcomer meets it: every mistake is one clear line and a documented exit code, never a traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bridge.cli.dev_broker import EmbeddedBroker, free_port
from bridge.cli.tail import render
from tests.conftest import ROOT, config_dict

pytestmark = pytest.mark.integration


def cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *argv], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def one_clear_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sms-bridge: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_send_to_a_closed_port_says_it_cannot_reach_the_bridge() -> None:
    one_clear_line(cli("send", "nxcloud-dev", "--url", f"http://127.0.0.1:{free_port()}"), 3, "cannot reach")


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com", "http://", "http://[::1", "http://127.0.0.1:99999"])
def test_send_to_a_bad_url_says_what_a_url_looks_like(url: str) -> None:
    one_clear_line(cli("send", "tencent-dev", "--url", url), 2, "--url")


def test_send_given_another_instances_callback_url_says_url_takes_the_base_url() -> None:
    one_clear_line(cli("send", "twilio-dev", "--url", "http://127.0.0.1:8080/callbacks/plivo/dev"), 2,
                   "--url takes the bridge's base URL (http://127.0.0.1:8080)")


def test_send_takes_the_shipped_dev_configuration_by_path() -> None:
    port = free_port()  # nothing listens: getting as far as posting proves the configuration was taken
    result = cli("send", "twilio-dev", "--config", "config/bridge.dev.yaml", "--url", f"http://127.0.0.1:{port}")
    one_clear_line(result, 3, "cannot reach", f"127.0.0.1:{port}/callbacks/twilio/dev")


def test_check_config_of_the_shipped_dev_configuration_passes() -> None:
    result = cli("check-config", "config/bridge.dev.yaml")
    assert result.returncode == 0 and result.stdout.startswith("config/bridge.dev.yaml: ok;"), result.stderr


def test_send_with_a_missing_body_file_names_the_file(tmp_path: Path) -> None:
    one_clear_line(cli("send", "tencent-dev", "--body", str(tmp_path / "missing.json")), 2, "missing.json")


def test_send_to_an_unknown_instance_lists_the_instances() -> None:
    one_clear_line(cli("send", "no-such-instance"), 2, "tencent-dev", "nxcloud-dev")


def test_send_with_an_unknown_sample_lists_the_samples() -> None:
    one_clear_line(cli("send", "nxcloud-dev", "--action", "nope"), 2, "dr", "mo")


def test_send_prints_the_reason_the_bridge_gave(broker, bridge_process, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_process(config_dict(broker.bootstrap))
    wrong = config_dict(broker.bootstrap)
    wrong["providers"][1]["access_keys"][0]["secret"] = "not-the-secret"
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(wrong), "utf-8")
    result = cli("send", "nxcloud-test", "--config", str(path), "--url", bridge.url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.splitlines()[0] == "HTTP 401"
    assert "reason: bad_signature" in result.stdout


def test_check_config_reports_one_problem_per_cause_and_suggests_the_nearest_key(tmp_path: Path) -> None:
    document = config_dict()
    document["providers"][0]["url_token"] = "${UNSET_FOR_THIS_TEST}"
    document["server"]["max_body_byte"] = 1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document), "utf-8")
    result = cli("check-config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "2 problem(s)" in result.stderr
    assert "UNSET_FOR_THIS_TEST is not set" in result.stderr and "did you mean 'max_body_bytes'" in result.stderr


def test_check_config_names_a_misspelt_required_key_once_and_an_unset_variable_once(tmp_path: Path) -> None:
    document = config_dict()
    document["providers"][0]["url_tokn"] = document["providers"][0].pop("url_token")
    document["providers"][1]["access_keys"][0]["secret"] = "${UNSET_FOR_THIS_TEST}${UNSET_FOR_THIS_TEST}"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document), "utf-8")
    result = cli("check-config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "2 problem(s)" in result.stderr, result.stderr
    assert "providers[0].url_tokn: unknown key; did you mean 'url_token'?" in result.stderr
    assert "Field required" not in result.stderr
    assert result.stderr.count("UNSET_FOR_THIS_TEST is not set") == 1


@pytest.mark.parametrize(("argv", "argument"), [
    (("dev", "--port", "99999"), "--port"),
    (("dev", "--broker-port", "-1"), "--broker-port"),
    (("serve", "--config", "config/bridge.dev.yaml", "--port", "0"), "--port"),
    (("tail", "--bootstrap", "127.0.0.1:abc"), "--bootstrap"),
    (("tail", "--bootstrap", "localhost"), "--bootstrap"),
    (("redrive", "--config", "config/bridge.dev.yaml", "--from-offset", "-3"), "--from-offset"),
])
def test_a_malformed_argument_is_refused_by_name_before_anything_starts(argv: tuple[str, ...], argument: str) -> None:
    result = cli(*argv, timeout=20)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sms-bridge {argv[0]}: error: argument {argument}"), result.stderr


def test_redrive_with_an_offset_range_backwards_is_one_clear_line() -> None:
    one_clear_line(cli("redrive", "--config", "config/bridge.dev.yaml", "--from-offset", "5", "--to-offset", "2"),
                   2, "--to-offset 2 is before --from-offset 5")


def test_redrive_without_a_broker_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "nobroker.yaml"
    path.write_text(yaml.safe_dump(config_dict(f"127.0.0.1:{free_port()}")), "utf-8")
    one_clear_line(cli("redrive", "--config", str(path)), 3, "cannot connect to Kafka")


def test_check_config_of_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    result = cli("check-config", str(tmp_path / "none.yaml"))
    assert result.returncode == 2 and "cannot read none.yaml" in result.stderr and "Traceback" not in result.stderr


def test_dev_on_a_port_in_use_says_so_before_starting_anything() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_clear_line(cli("dev", "--port", str(port)), 2, f"port {port} is in use")


@contextlib.contextmanager
def tail_process(port: int, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`sms-bridge tail` against 127.0.0.1:<port>, printing to `out`; killed and reaped whatever happens."""
    with open(out, "wb") as sink:
        tail = subprocess.Popen([sys.executable, "-m", "bridge", "tail", "--bootstrap", f"127.0.0.1:{port}"],
                                stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield tail
    finally:
        if tail.poll() is None:
            tail.kill()
        tail.wait()


def interrupted(tail: subprocess.Popen[bytes], out: Path) -> int:
    """Ctrl-C: the exit code. The deadline is generous (a loaded machine); a `tail` that ignores
    the signal fails here, and tail_process kills it."""
    tail.send_signal(signal.SIGINT)
    try:
        return tail.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"tail ignored SIGINT for 60 s:\n{out.read_text()}") from None


@contextlib.contextmanager
def refusing_listener(port: int) -> Iterator[list[int]]:
    """Something on the port that accepts a connection and resets it at once, as a broker that is
    not there yet: the list counts the connection attempts."""
    attempts: list[int] = []
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    listener.settimeout(0.2)
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            attempts.append(1)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, no TIME_WAIT
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield attempts
    finally:
        done.set()
        thread.join()
        listener.close()


def test_tail_waits_for_the_broker_says_when_it_is_gone_and_back_and_does_not_flood(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "tail.out"
    broker = EmbeddedBroker(port=port)
    try:
        with tail_process(port, out) as tail:
            with refusing_listener(port) as attempts:
                wait_for_text(out, "is not reachable; retrying")
                wait_until(lambda: len(attempts) >= 4, "tail retried 4 times", out)
                text = out.read_text()
                # retrying, backing off, and saying so once, not once per attempt
                assert text.count("is not reachable") == 1 and len(text.splitlines()) == 1, text
            broker.start()
            broker.create_topics(["sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter"])
            wait_for_text(out, "waiting for records on sms.delivery-receipts")
            broker.kill()
            wait_for_text(out, "lost the broker")
            broker.start()
            wait_for_text(out, "is back")
            assert interrupted(tail, out) == 0
            lines = out.read_text().splitlines()
            assert len(lines) <= 8 and "Traceback" not in "\n".join(lines), lines
    finally:
        broker.stop()


@pytest.mark.parametrize("moment", ["waiting", "retrying"])
def test_tail_exits_on_sigint_while_it_waits_for_the_broker(tmp_path: Path, moment: str) -> None:
    """Ctrl-C while no broker is there: at the first failed attempt, or later, mid back-off or mid attempt."""
    port = free_port()
    out = tmp_path / "tail.out"
    with tail_process(port, out) as tail, refusing_listener(port) as attempts:
        wait_for_text(out, "is not reachable; retrying")
        if moment == "retrying":
            wait_until(lambda: len(attempts) >= 3, "tail retried 3 times", out)
        assert interrupted(tail, out) == 0
        assert "Traceback" not in out.read_text()


def wait_until(condition: Callable[[], bool], what: str, out: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s: {what}\n{out.read_text()}")
        time.sleep(0.1)


def wait_for_text(path: Path, text: str, timeout: float = 60) -> None:
    wait_until(lambda: text in path.read_text(), f"{text!r} printed", path, timeout)


def test_tail_renders_colour_and_indented_json_only_for_a_terminal() -> None:
    value = b'{"type":"sms.delivery_receipt","id":"1","data":{"status":"delivered","to":"+1"}}'
    plain = render("sms.delivery-receipts", b"k", value)
    pretty = render("sms.delivery-receipts", b"k", value, pretty=True)
    assert "\x1b[" not in plain and "\x1b[" in pretty and '\n  "data"' in pretty
