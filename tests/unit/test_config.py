"""Settings: the shipped files load, substitution, every problem reported with its path, no secret leaks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.cli.dev import load_dev
from bridge.config import (
    Settings,
    load,
    parse,
)
from bridge.errors import ConfigError
from bridge.events import EventType
from bridge.kafka.settings import (
    DEFAULT_DEAD_LETTER_TOPIC,
    DEFAULT_DELIVERY_RECEIPT_TOPIC,
    DEFAULT_INBOUND_MESSAGE_TOPIC,
)
from bridge.providers import PROVIDERS
from bridge.providers.nxcloud import NxCloudSettings
from bridge.providers.tencent import TencentSettings
from bridge.redact import MASK
from tests.conftest import NX_OTHER_SECRET, NX_SECRET, ROOT, TENCENT_TOKEN, config_dict, make_settings

EXAMPLE = ROOT / "config" / "bridge.example.yaml"
DEV = ROOT / "config" / "bridge.dev.yaml"


def tencent_of(settings: Settings) -> TencentSettings:
    instance = settings.providers[0]
    assert isinstance(instance, TencentSettings)
    return instance
SECRETS = (TENCENT_TOKEN, NX_SECRET, NX_OTHER_SECRET)


def problems_of(document: dict[str, Any] | str, environ: dict[str, str] | None = None,
                base_dir: Path = Path(".")) -> list[tuple[str, str]]:
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    with pytest.raises(ConfigError) as caught:
        parse(text, environ or {}, base_dir=base_dir)
    return caught.value.problems


def paths_of(document: dict[str, Any] | str, environ: dict[str, str] | None = None) -> list[str]:
    return [path for path, _ in problems_of(document, environ)]


def write(tmp_path: Path, document: dict[str, Any] | str, name: str = "bridge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document), "utf-8")
    return path


# --- the shipped files -------------------------------------------------------------------------------


def test_example_config_loads_with_its_secret_files() -> None:
    settings = load(EXAMPLE, {})
    tencent, nxcloud = settings.providers[:2]
    assert isinstance(tencent, TencentSettings) and isinstance(nxcloud, NxCloudSettings)
    token_file = (EXAMPLE.parent / "secrets" / "tencent-url-token").read_text("utf-8")
    assert tencent.url_token.reveal() == token_file.rstrip("\n")
    secret_file = (EXAMPLE.parent / "secrets" / "nxcloud-secret").read_text("utf-8")
    assert nxcloud.access_keys[0].secret.reveal() == secret_file.rstrip("\n")
    assert settings.kafka.bootstrap_servers == ("kafka:9092",)  # ${KAFKA_BOOTSTRAP:-kafka:9092}


def test_example_config_takes_the_bootstrap_from_the_environment() -> None:
    settings = load(EXAMPLE, {"KAFKA_BOOTSTRAP": "broker-1:9093"})
    assert settings.kafka.bootstrap_servers == ("broker-1:9093",)


def test_example_config_states_the_defaults() -> None:
    # The example documents every key with its default: the defaults of the models.
    example = load(EXAMPLE, {})
    minimal = parse(yaml.safe_dump({"kafka": {"bootstrap_servers": ["kafka:9092"]},
                                    "providers": config_dict()["providers"]}), {})
    assert example.server == minimal.server
    assert example.kafka == minimal.kafka.model_copy(update={"bootstrap_servers": ("kafka:9092",)})
    assert example.logging == minimal.logging


def test_dev_config_loads_with_its_defaults_and_takes_the_broker_from_the_environment() -> None:
    settings = load_dev(DEV, {"BRIDGE_KAFKA_BOOTSTRAP": "127.0.0.1:39092"})
    assert settings.kafka.bootstrap_servers == ("127.0.0.1:39092",)
    assert [p.kind for p in settings.providers] == list(PROVIDERS)  # one instance of every registered kind
    assert load_dev(DEV, {}).kafka.bootstrap_servers == ("127.0.0.1:9092",)


def test_default_topics_are_the_contracts() -> None:
    topics = load(EXAMPLE, {}).kafka.topics
    assert (topics.delivery_receipt, topics.inbound_message, topics.dead_letter) == (
        DEFAULT_DELIVERY_RECEIPT_TOPIC, DEFAULT_INBOUND_MESSAGE_TOPIC, DEFAULT_DEAD_LETTER_TOPIC)
    assert (DEFAULT_DELIVERY_RECEIPT_TOPIC, DEFAULT_INBOUND_MESSAGE_TOPIC, DEFAULT_DEAD_LETTER_TOPIC) == (
        "sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter")
    assert topics.by_type() == {EventType.DELIVERY_RECEIPT: "sms.delivery-receipts",
                                EventType.INBOUND_MESSAGE: "sms.inbound-messages"}


def test_settings_are_immutable(settings: Settings) -> None:
    with pytest.raises(ValueError, match="frozen"):
        settings.server.port = 1  # type: ignore[misc]


def test_source_defaults_to_kind_and_name() -> None:
    document = config_dict()
    del document["providers"][0]["source"]
    settings = parse(yaml.safe_dump(document), {})
    assert settings.providers[0].cloudevents_source == "/sms/tencent/tencent-test"
    assert settings.providers[1].cloudevents_source == "/sms/nxcloud/kGp5uFHN"


# --- substitution ---------------------------------------------------------------------------------------


def test_variable_is_substituted_from_the_given_environment() -> None:
    document = config_dict()
    document["providers"][0]["url_token"] = "${TOKEN}"
    document["kafka"]["client_id"] = "bridge-${REGION}-1"
    settings = parse(yaml.safe_dump(document), {"TOKEN": "t" * 20, "REGION": "eu"})
    assert tencent_of(settings).url_token.reveal() == "t" * 20
    assert settings.kafka.client_id == "bridge-eu-1"


def test_default_applies_when_the_variable_is_unset_and_the_environment_wins_otherwise() -> None:
    document = config_dict()
    document["kafka"]["client_id"] = "${CLIENT:-fallback}"
    assert parse(yaml.safe_dump(document), {}).kafka.client_id == "fallback"
    assert parse(yaml.safe_dump(document), {"CLIENT": "given"}).kafka.client_id == "given"


def test_an_empty_variable_is_used_as_is_since_the_default_is_only_for_unset_ones() -> None:
    # README: "`VAR`, or `default` if unset" (unlike the shell, where empty also takes the default).
    document = config_dict()
    document["kafka"]["type_prefix"] = "${PREFIX:-com.example}"
    assert parse(yaml.safe_dump(document), {"PREFIX": ""}).kafka.type_prefix == ""


def test_an_empty_default_is_allowed() -> None:
    document = config_dict()
    document["kafka"]["type_prefix"] = "${PREFIX:-}"
    assert parse(yaml.safe_dump(document), {}).kafka.type_prefix == ""


def test_the_process_environment_is_not_consulted_when_a_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_TEST_CLIENT", "from-process")
    document = config_dict()
    document["kafka"]["client_id"] = "${BRIDGE_TEST_CLIENT:-from-default}"
    assert parse(yaml.safe_dump(document), {}).kafka.client_id == "from-default"


def test_a_missing_variable_is_named_with_its_dotted_path() -> None:
    document = config_dict()
    document["providers"][1]["access_keys"][0]["secret"] = "${NXCLOUD_SECRET}"
    problems = problems_of(document)
    assert ("providers[1].access_keys[0].secret", "environment variable NXCLOUD_SECRET is not set") in problems


def test_a_malformed_reference_is_reported() -> None:
    document = config_dict()
    document["kafka"]["client_id"] = "${not a name}"
    assert ("kafka.client_id", "${not a name} is not a variable reference") in problems_of(document)


def test_file_reference_reads_the_file_relative_to_the_config_without_its_newline(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("file-token-0123456789abcdef\n", "utf-8")
    document = config_dict()
    document["providers"][0]["url_token"] = "${file:secrets/token}"
    settings = load(write(tmp_path, document), {})
    assert tencent_of(settings).url_token.reveal() == "file-token-0123456789abcdef"


def test_file_reference_is_relative_to_the_config_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "secret").write_text("nx-secret-from-file", "utf-8")
    document = config_dict()
    document["providers"][1]["access_keys"][0]["secret"] = "${file:secret}"
    monkeypatch.chdir(tmp_path)
    settings = load(write(tmp_path / "conf", document), {})
    nxcloud = settings.providers[1]
    assert isinstance(nxcloud, NxCloudSettings)
    assert nxcloud.access_keys[0].secret.reveal() == "nx-secret-from-file"


def test_an_unreadable_secret_file_is_reported_with_its_path_and_name(tmp_path: Path) -> None:
    document = config_dict()
    document["providers"][0]["url_token"] = "${file:secrets/missing}"
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, document), {})
    assert ("providers[0].url_token", "secret file 'secrets/missing' cannot be read") in caught.value.problems


def test_an_unreadable_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read missing\.yaml"):
        load(tmp_path / "missing.yaml", {})


# --- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "path"),
    [(("providers", 1), "providers[1].foo"), (("providers", 0), "providers[0].foo"), (("server",), "server.foo"),
     (("kafka", "topics"), "kafka.topics.foo"), ((), "foo")],
)
def test_unknown_keys_are_rejected_with_their_dotted_path(where: tuple[Any, ...], path: str) -> None:
    document = config_dict()
    node: Any = document
    for step in where:
        node = node.setdefault(step, {}) if isinstance(node, dict) else node[step]
    node["foo"] = 1
    assert (path, "unknown key") in problems_of(document)


@pytest.mark.parametrize(
    ("where", "typo", "suggestion"),
    [(("server",), "max_body_byte", "max_body_bytes"), (("providers", 0), "url_tokn", "url_token"),
     (("providers", 1), "timestamp_tolerance", "timestamp_tolerance_seconds"), ((), "kafak", "kafka"),
     (("kafka", "topics"), "dead_leter", "dead_letter")],
)
def test_an_unknown_key_close_to_a_known_one_names_it(where: tuple[Any, ...], typo: str, suggestion: str) -> None:
    document = config_dict()
    node: Any = document
    for step in where:
        node = node.setdefault(step, {}) if isinstance(node, dict) else node[step]
    node[typo] = 1
    assert any(rule == f"unknown key; did you mean '{suggestion}'?" for _, rule in problems_of(document))


def test_an_unset_variable_is_one_problem_not_two() -> None:
    document = config_dict()
    document["providers"][0]["url_token"] = "${TENCENT_TOKEN_UNSET}"
    assert problems_of(document) == [("providers[0].url_token", "environment variable TENCENT_TOKEN_UNSET is not set")]


def test_unknown_key_in_an_access_key_has_its_full_path() -> None:
    document = config_dict()
    document["providers"][1]["access_keys"][1]["scret"] = "typo"
    assert "providers[1].access_keys[1].scret" in paths_of(document)


def test_several_problems_are_reported_at_once() -> None:
    document = config_dict()
    document["server"]["port"] = 0
    document["kafka"]["security_protocol"] = "TLS"
    document["providers"][0]["url_token"] = "short"
    document["providers"][1]["timezone"] = "Mars/Olympus"
    document["providers"][1]["access_keys"][0]["secret"] = "${MISSING}"
    paths = paths_of(document)
    for expected in ("server.port", "kafka.security_protocol", "providers[0].url_token", "providers[1].timezone",
                     "providers[1].access_keys[0].secret"):
        assert expected in paths
    with pytest.raises(ConfigError, match=r"\(\d+ problem\(s\)\)"):
        parse(yaml.safe_dump(document), {})


def test_invalid_list_items_are_not_also_reported_as_a_list_too_short() -> None:
    document = config_dict()
    document["providers"][0]["url_token"] = "short"
    document["providers"][1]["timezone"] = "Mars/Olympus"
    document["kafka"]["bootstrap_servers"] = ["x"]
    problems = problems_of(document)
    assert [p for p, _ in problems] == ["kafka.bootstrap_servers[0]", "providers[0].url_token",
                                        "providers[1].timezone"]


def test_no_providers_is_an_error() -> None:
    document = config_dict()
    document["providers"] = []
    assert "providers" in paths_of(document)


def test_an_unknown_kind_is_reported_at_its_instance() -> None:
    document = config_dict()
    document["providers"][1]["kind"] = "no-such-kind"
    assert paths_of(document) == ["providers[1].kind"]


def test_produce_timeout_must_be_shorter_than_the_reply_deadline() -> None:
    document = config_dict(reply_deadline_seconds=3, body_timeout_seconds=1)
    problems = problems_of(document)  # produce_timeout_seconds is 3 in the test configuration
    assert any("produce_timeout_seconds must be shorter" in rule for _, rule in problems)
    document["kafka"]["produce_timeout_seconds"] = 2.9
    assert parse(yaml.safe_dump(document), {}).kafka.produce_timeout_seconds == 2.9


def test_duplicate_instance_names_are_rejected() -> None:
    document = config_dict()
    document["providers"][1]["name"] = "tencent-test"
    assert any("names must be unique" in rule for _, rule in problems_of(document))


@pytest.mark.parametrize(
    ("first", "second"),
    [("/callbacks/x", "/callbacks/x"), ("/callbacks", "/callbacks/nx"),
     ("/callbacks/tencent/test/a", "/callbacks/tencent/test")],
)
def test_overlapping_paths_are_rejected(first: str, second: str) -> None:
    document = config_dict()
    document["providers"][0]["path"] = first
    document["providers"][1]["path"] = second
    assert any("overlaps" in rule for _, rule in problems_of(document))


def test_paths_that_only_share_a_prefix_string_do_not_overlap() -> None:
    document = config_dict()
    document["providers"][0]["path"] = "/callbacks/t"
    document["providers"][1]["path"] = "/callbacks/tencent"
    assert [p.path for p in parse(yaml.safe_dump(document), {}).providers] == ["/callbacks/t", "/callbacks/tencent"]


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics", "/metrics/nx"])
def test_a_callback_path_may_not_shadow_the_probes_or_metrics(path: str) -> None:
    document = config_dict()
    document["providers"][1]["path"] = path
    assert any("reserved" in rule for _, rule in problems_of(document))


def test_a_path_that_only_starts_like_a_reserved_one_is_allowed() -> None:
    document = config_dict()
    document["providers"][1]["path"] = "/metrics-callbacks/nx"
    assert parse(yaml.safe_dump(document), {}).providers[1].path == "/metrics-callbacks/nx"


@pytest.mark.parametrize("path", ["callbacks", "/callbacks/", "/call backs", "/callbacks/{token}", "/"])
def test_malformed_paths_are_rejected(path: str) -> None:
    document = config_dict()
    document["providers"][0]["path"] = path
    assert "providers[0].path" in paths_of(document)


def test_a_short_tencent_url_token_is_rejected() -> None:
    document = config_dict()
    document["providers"][0]["url_token"] = "x" * 15
    assert ("providers[0].url_token", "Value error, must be at least 16 characters") in problems_of(document)
    document["providers"][0]["url_token"] = "x" * 16
    assert parse(yaml.safe_dump(document), {})


def test_sasl_needs_its_credentials() -> None:
    document = config_dict()
    document["kafka"]["security_protocol"] = "SASL_SSL"
    assert any("SASL needs" in rule for _, rule in problems_of(document))


@pytest.mark.parametrize(("yaml_text", "where"), [("kafka: [", "line"), ("- a\n- b\n", "(file)"), ("", "(file)")])
def test_a_file_that_is_not_a_yaml_mapping_is_a_config_error(yaml_text: str, where: str) -> None:
    [(path, _)] = problems_of(yaml_text)
    assert path.startswith(where)


# --- secrets ------------------------------------------------------------------------------------------------


def test_secrets_never_appear_in_config_errors() -> None:
    document = config_dict()
    document["providers"][0]["url_token"] = "tooshort-secret"  # invalid secret: only its path is named
    document["providers"][1]["access_keys"][0]["secret"] = 12345678901234567890
    document["providers"][1]["access_keys"][1]["access_key"] = "has space " + NX_OTHER_SECRET
    document["kafka"]["sasl_password"] = NX_SECRET
    document["kafka"]["security_protocol"] = TENCENT_TOKEN
    document["server"]["port"] = NX_SECRET
    with pytest.raises(ConfigError) as caught:
        parse(yaml.safe_dump(document), {})
    text = str(caught.value) + repr(caught.value) + repr(caught.value.problems)
    for secret in (*SECRETS, "tooshort-secret", "12345678901234567890"):
        assert secret not in text
    assert "providers[0].url_token" in text


def test_secrets_from_files_and_variables_never_appear_in_config_errors(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("secret-from-file-0123", "utf-8")
    document = config_dict()
    document["providers"][0]["url_token"] = "${file:token}"
    document["providers"][1]["access_keys"][0]["secret"] = "${NX}"
    document["server"]["port"] = "${PORT}"
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, document), {"NX": "secret-from-env-xyz", "PORT": "secret-port-value"})
    for secret in ("secret-from-file-0123", "secret-from-env-xyz", "secret-port-value"):
        assert secret not in str(caught.value)


def test_secrets_are_masked_in_the_repr_and_dump_of_settings() -> None:
    document = config_dict()
    document["kafka"].update(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="bridge",
                             sasl_password="kafka-password-123")
    settings = parse(yaml.safe_dump(document), {})
    for text in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())):
        for secret in (*SECRETS, "kafka-password-123"):
            assert secret not in text
        assert MASK in text
    assert settings.kafka.sasl_password is not None and settings.kafka.sasl_password.reveal() == "kafka-password-123"


# --- bridge check-config -----------------------------------------------------------------------------------------


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "check-config", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )


def test_check_config_exits_0_on_a_valid_file() -> None:
    result = check_config(EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert "tencent-main" in result.stdout and "nxcloud-main" in result.stdout


def test_check_config_exits_2_on_an_invalid_file_and_names_the_problem_not_the_secret(tmp_path: Path) -> None:
    document = config_dict()
    document["providers"][1]["foo"] = "bar"
    document["providers"][0]["url_token"] = "short-secret"
    result = check_config(write(tmp_path, document))
    assert result.returncode == 2
    assert "providers[1].foo" in result.stderr
    assert "providers[0].url_token" in result.stderr
    assert "short-secret" not in result.stderr + result.stdout
    assert NX_SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("server", ["localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "host:port", ":9092",
                                    "a b:9092"])
def test_a_bootstrap_server_that_is_not_host_port_is_a_config_error_naming_it(server: str) -> None:
    document = config_dict(server)
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap_servers\[0\]"):
        make_settings(document)


@pytest.mark.parametrize("server", ["127.0.0.1:9092", "kafka-0.kafka.svc:9093", "[::1]:9092", "broker:1"])
def test_a_host_port_bootstrap_server_is_accepted(server: str) -> None:
    assert make_settings(config_dict(server)).kafka.bootstrap_servers == (server,)


def test_each_instance_has_its_effective_reply_deadline_once_loaded() -> None:
    document = config_dict(reply_deadline_seconds=7, body_timeout_seconds=1)
    document["providers"][1]["reply_deadline_seconds"] = 4.5
    settings = parse(yaml.safe_dump(document), {})
    assert [p.reply_deadline for p in settings.providers] == [7.0, 4.5]
    assert [p.reply_deadline_seconds for p in settings.providers] == [7.0, 4.5]


def test_an_instance_deadline_that_leaves_no_room_is_one_problem_per_instance() -> None:
    document = config_dict()
    for instance in document["providers"]:
        instance["reply_deadline_seconds"] = 0.04
    document["spool"] = {"path": "/tmp/spool.db"}
    problems = problems_of(document)
    deadline_problems = [(path, rule) for path, rule in problems if path.endswith("reply_deadline_seconds")]
    assert [path for path, _ in deadline_problems] == [
        "providers[0].reply_deadline_seconds", "providers[0].reply_deadline_seconds",
        "providers[1].reply_deadline_seconds", "providers[1].reply_deadline_seconds",
    ]
    assert any("commit reserve" in rule for _, rule in deadline_problems)
    document["providers"][0]["reply_deadline_seconds"] = 0.6
    document["providers"][1]["reply_deadline_seconds"] = 0.6
    parse(yaml.safe_dump(document), {})  # Alibaba's 0.6 s fits, with the spool on too
