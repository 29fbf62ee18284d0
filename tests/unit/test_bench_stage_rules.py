"""The benchmark's stage attribution (tests/bench/stage_rules.py): one py-spy stack -> one stage."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from tests.bench.stage_rules import (
    EVENT,
    GLUE,
    GROUP,
    HTTP,
    KAFKA,
    LOG,
    LOOP,
    METRICS,
    OTHER,
    PARSE,
    PHONES,
    PROVIDER,
    PROVIDER_ENTRIES,
    RULES,
    SHARED,
    STAGES,
    VERIFY,
    Frame,
    attribute,
    attribute_stacks,
    frame,
    read_raw,
    rule_for,
)

ROOT = Path(__file__).resolve().parents[2]
# What py-spy shows under every sample of `python -m bridge serve`: the entry chain.
ENTRY = [
    "_run_module_as_main (<frozen runpy>:198)",
    "<module> (bridge/__main__.py:5)",
    "main (bridge/cli/main.py:237)",
    "serve (bridge/cli/serve.py:167)",
    "Server.run (uvicorn/server.py:86)",
    "asyncio_run (uvicorn/_compat.py:30)",
    "Runner.run (asyncio/runners.py:118)",
]
CALLBACK = [
    *ENTRY,
    "RequestResponseCycle.run_asgi (uvicorn/protocols/http/httptools_impl.py:416)",
    "BridgeApp.__call__ (bridge/http/app.py:134)",
    "CallbackEndpoint.__call__ (bridge/http/endpoint.py:83)",
]
PIPELINE = [
    *CALLBACK,
    "CallbackEndpoint._handle (bridge/http/endpoint.py:128)",
    "Pipeline.handle (bridge/http/pipeline.py:75)",
]


def stage(*frames: str) -> str:
    return attribute([frame(f) for f in frames])[0]


def test_a_py_spy_frame_is_parsed_and_site_packages_dropped() -> None:
    assert frame("Guard.check (bridge/http/guard.py:47)") == Frame("Guard.check", "bridge/http/guard.py")
    assert frame("run (/venv/lib/python3.11/site-packages/uvicorn/main.py:5)") == Frame("run", "uvicorn/main.py")
    assert frame("<module> (<frozen runpy>)") == Frame("<module>", "<frozen runpy>")


def test_the_entry_chain_alone_or_nothing_is_the_event_loop() -> None:
    assert stage(*ENTRY) == LOOP
    assert stage() == LOOP
    assert stage(*ENTRY, "Task.__step (asyncio/tasks.py:269)", "Future.result (asyncio/futures.py:10)") == LOOP
    assert stage(*ENTRY, "WeakSet.__init__.<locals>._remove (_weakrefset.py:39)") == LOOP  # a finished task


def test_uvicorn_starlette_the_app_entry_and_the_reply_are_http() -> None:
    assert stage(*ENTRY, "HttpToolsProtocol.data_received (uvicorn/protocols/http/httptools_impl.py:173)") == HTTP
    assert stage(*CALLBACK[:-1]) == HTTP  # BridgeApp's own time
    assert stage(*CALLBACK, "send_reply (bridge/http/intake.py:139)") == HTTP
    assert stage(*CALLBACK, "read_body (bridge/http/intake.py:120)") == HTTP
    reply = "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:522)"
    assert stage(*CALLBACK, "send_reply (bridge/http/intake.py:139)", reply) == HTTP
    assert stage(*ENTRY, "_bare_callback (tests/bench/apps.py:35)") == HTTP  # ceiling A


def test_the_endpoint_pipeline_and_intake_are_glue_but_the_log_fields_are_the_log_line() -> None:
    assert stage(*CALLBACK) == GLUE
    assert stage(*PIPELINE) == GLUE
    assert stage(*CALLBACK, "headers_of (bridge/http/intake.py:50)") == GLUE
    assert stage(*CALLBACK, "request_id (bridge/http/intake.py:28)", "uuid4 (uuid.py:723)") == GLUE  # stdlib: caller
    assert stage(*CALLBACK, "CallbackEndpoint._fields (bridge/http/endpoint.py:148)") == LOG
    assert stage(*CALLBACK, "masked_parties (bridge/http/endpoint.py:161)", "mask_phone (bridge/redact.py:50)") == LOG
    assert stage(*CALLBACK, "AcceptedLog.write (bridge/http/accepted_log.py:58)") == LOG


def test_shared_checks_and_the_replay_cache() -> None:
    assert stage(*PIPELINE, "Guard.check (bridge/http/guard.py:47)") == SHARED
    assert (
        stage(
            *PIPELINE,
            "Guard.check (bridge/http/guard.py:53)",
            "ReplayCache.reserve (bridge/http/replay_cache.py:30)",
            "SystemClock.time (bridge/clock.py:20)",
        )
        == SHARED
    )


def test_a_providers_frames_take_the_stage_of_the_method_the_pipeline_called() -> None:
    verify = [
        *PIPELINE,
        "ProviderAdapter.verify (bridge/providers/adapter.py:73)",
        "NxCloudProvider.verify (bridge/providers/nxcloud.py:202)",
    ]
    parse = [
        *PIPELINE,
        "Pipeline._store (bridge/http/pipeline.py:96)",
        "ProviderAdapter.parse (bridge/providers/adapter.py:81)",
        "NxCloudProvider.parse (bridge/providers/nxcloud.py:229)",
    ]
    assert stage(*verify) == VERIFY
    assert stage(*verify, "signature (bridge/providers/nxcloud.py:90)", "new (hmac.py:184)") == VERIFY
    assert stage(*verify, "load_json (bridge/providers/common.py:82)") == VERIFY  # a helper, called to verify
    assert stage(*verify, "Secret.reveal (bridge/redact.py:19)") == VERIFY  # transparent
    assert stage(*parse) == PARSE
    assert (
        stage(
            *parse,
            "NxCloudProvider._receipt (bridge/providers/nxcloud.py:240)",
            "optional_text (bridge/providers/common.py:115)",
        )
        == PARSE
    )
    assert stage(*parse, "NxCloudProvider._receipt (bridge/providers/nxcloud.py:240)", "__init__ (<string>:3)") == PARSE
    accepted = [
        *CALLBACK,
        "ProviderAdapter.accepted (bridge/providers/adapter.py:87)",
        "NxCloudProvider.accepted (bridge/providers/nxcloud.py:274)",
    ]
    assert stage(*accepted) == GLUE
    assert stage(*PIPELINE, "ProviderAdapter.verify (bridge/providers/adapter.py:73)") == GLUE


def test_signature_modules_are_verification_whoever_calls_them() -> None:
    assert (
        stage(
            *PIPELINE,
            "SchemeProvider.verify (bridge/providers/schemes.py:136)",
            "check_url_token (bridge/providers/verification.py:40)",
        )
        == VERIFY
    )
    assert (
        stage(
            "TwilioProvider.parse (bridge/providers/twilio.py:210)",
            "signature_matches (bridge/providers/twilio_signature.py:100)",
        )
        == VERIFY
    )


def test_a_stack_cut_short_falls_back_to_the_provider_functions_name() -> None:
    assert stage("HuaweiProvider._secret_of (bridge/providers/huawei.py:176)") == VERIFY
    assert stage("PlivoProvider._nonce (bridge/providers/plivo.py:167)") == VERIFY
    assert stage("signed_headers (bridge/providers/nxcloud.py:96)") == VERIFY
    assert stage("TencentProvider._receipt (bridge/providers/tencent.py:120)") == PARSE
    assert stage("each_report (bridge/providers/reports.py:20)") == PARSE


def test_phone_numbers_event_envelope_kafka_and_metrics() -> None:
    receipt = [
        *PIPELINE,
        "Pipeline._store (bridge/http/pipeline.py:96)",
        "TencentProvider.parse (bridge/providers/tencent.py:110)",
        "TencentProvider._receipt (bridge/providers/tencent.py:125)",
    ]
    assert stage(*receipt, "Provider.phone (bridge/providers/base.py:283)") == PHONES
    assert (
        stage(
            *receipt,
            "Provider.phone (bridge/providers/base.py:283)",
            "phone (bridge/phones.py:60)",
            "is_valid_number (phonenumbers/phonenumberutil.py:2000)",
        )
        == PHONES
    )
    store = [*PIPELINE, "Pipeline._store (bridge/http/pipeline.py:120)"]
    assert (
        stage(
            *store,
            "Envelope.to_record (bridge/kafka/envelope.py:85)",
            "DeliveryReceipt.id (bridge/events.py:80)",
            "event_id (bridge/events.py:40)",
        )
        == EVENT
    )
    publish = [
        *store,
        "Pipeline._publish (bridge/http/pipeline.py:147)",
        "KafkaPublisher.publish (bridge/kafka/publisher.py:228)",
    ]
    assert stage(*publish) == GROUP
    assert (
        stage(
            *publish, "GroupCommit.send (bridge/kafka/group_commit.py:95)", "murmur2 (bridge/kafka/group_commit.py:40)"
        )
        == GROUP
    )
    assert (
        stage(
            *publish,
            "GroupCommit.send (bridge/kafka/group_commit.py:95)",
            "AIOKafkaProducer.send_batch (aiokafka/producer/producer.py:600)",
        )
        == KAFKA
    )
    assert stage(*ENTRY, "Sender._sender_routine (aiokafka/producer/sender.py:120)") == KAFKA
    assert stage(*ENTRY, "StreamReaderProtocol.data_received (asyncio/streams.py:280)") == KAFKA
    assert (
        stage(
            *CALLBACK,
            "BridgeMetrics.callback_done (bridge/metrics.py:160)",
            "Histogram.observe (prometheus_client/metrics.py:650)",
        )
        == METRICS
    )


def test_logging_is_the_cost_of_whoever_logs() -> None:
    debug = ["Logger.debug (logging/__init__.py:1465)", "Logger.isEnabledFor (logging/__init__.py:1730)"]
    assert stage(*ENTRY, "Sender._sender_routine (aiokafka/producer/sender.py:120)", *debug) == KAFKA
    assert stage(*CALLBACK, "Logger.log (logging/__init__.py:1500)", "JsonFormatter.format (bridge/logs.py:30)") == LOG
    assert stage(*CALLBACK, *debug) == LOG
    assert stage(*debug) == LOG


def test_unmapped_code_is_other_and_named() -> None:
    stage_, decided_by = attribute(
        [frame(f) for f in [*ENTRY, "work (somepackage/module.py:3)", "helper (json/x.py:1)"]]
    )
    assert (stage_, decided_by) == (OTHER, Frame("helper", "json/x.py"))
    stage_, decided_by = attribute([frame(f) for f in [*CALLBACK, "new_step (bridge/http/newmodule.py:9)"]])
    assert (stage_, decided_by) == (OTHER, Frame("new_step", "bridge/http/newmodule.py"))


def test_shares_add_up_and_carry_a_binomial_error(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    lines = [
        ";".join(["process 12:python -m bridge serve", *ENTRY]) + " 30",
        ";".join(CALLBACK) + " 50",
        ";".join([*PIPELINE, "Guard.check (bridge/http/guard.py:47)"]) + " 20",
        "garbage without a count",
    ]
    raw.write_text("\n".join(lines) + "\n", "utf-8")
    found = attribute_stacks(read_raw(raw))
    assert found.samples == 100
    assert (found.by_stage[LOOP], found.by_stage[GLUE], found.by_stage[SHARED]) == (30, 50, 20)
    assert sum(found.share(s) for s in STAGES) == pytest.approx(1.0)
    assert found.error(GLUE) == pytest.approx(math.sqrt(0.5 * 0.5 / 100))
    assert found.top(GLUE) == [("CallbackEndpoint.__call__ (bridge/http/endpoint.py)", 50)]


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_function_a_rule_names_exists() -> None:
    """A rename in the bridge must not silently move a function to its module's default stage."""
    for rule in RULES:
        if rule.functions and "*" not in rule.where and not rule.where.endswith("/"):
            missing = set(rule.functions) - _defined(ROOT / rule.where)
            assert not missing, f"{rule.where}: no function {sorted(missing)}"


def test_every_provider_method_has_a_stage() -> None:
    """The Provider contract's methods decide the stage of a provider's frames (rule 3)."""
    tree = ast.parse((ROOT / "bridge/providers/base.py").read_text("utf-8"))
    protocol = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Provider")
    methods = {n.name for n in protocol.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    base = rule_for(Frame("x", "bridge/providers/base.py"))
    assert base is not None and base.stage == PROVIDER
    assert methods - set(PROVIDER_ENTRIES) == set(base.functions), "a Provider method without a stage"
