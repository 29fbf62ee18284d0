"""The cause of a failed Kafka connection, read from the exception chain aiokafka raises."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed  # type: ignore[import-untyped]

from bridge.kafka.causes import KafkaCause, classify
from bridge.kafka.link import cause_of


def verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    error.verify_code, error.verify_message = code, message
    return error


def wrapped(cause: BaseException) -> KafkaConnectionError:
    error = KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (verify_error(20, "unable to get local issuer certificate"), "tls_certificate"),
        (verify_error(62, "Hostname mismatch, certificate is not valid for 'kafka'."), "tls_hostname"),
        (verify_error(64, "IP address mismatch, certificate is not valid for '127.0.0.1'."), "tls_hostname"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
        (TimeoutError(), "timeout"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "closed"),
        (asyncio.IncompleteReadError(b"", 4), "closed"),
        (SaslAuthenticationFailed(), "auth"),
        (ValueError("something else"), "unknown"),
    ],
)
def test_the_cause_is_read_from_the_exception_chain(error: BaseException, cause: KafkaCause) -> None:
    assert cause_of(error) == cause
    assert cause_of(wrapped(error)) == cause


def test_an_error_without_a_chain_is_unknown_and_a_cyclic_chain_ends() -> None:
    assert classify(KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")) == "unknown"
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert classify(first) == "unknown"
