"""Why Kafka cannot be reached: a closed set of causes, read from an exception chain. Pure: no I/O.

aiokafka says `KafkaConnectionError` for everything from a refused port to a certificate that
does not verify. The cause is in the exception chain (when aiokafka kept it), or in the error
of a fresh connection the publisher opens to find out (bridge.kafka.link.diagnose). The
cause is a metric label, a log field and part of /readyz's text, so the set is closed.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from typing import Final, Literal, get_args

KafkaCause = Literal[
    "refused",          # nothing listens at the broker's address (connection refused)
    "dns",              # the broker's host name does not resolve
    "unreachable",      # no route to the host or network
    "timeout",          # no answer in time (connect, TLS handshake or a request)
    "closed",           # the broker, or something between, reset or closed the connection
    "tls_certificate",  # the broker's certificate does not verify against ssl_cafile (CERTIFICATE_VERIFY_FAILED)
    "tls_hostname",     # the certificate verifies but is for another name (ssl_check_hostname)
    "tls",              # another TLS failure (protocol mismatch, handshake alert, plaintext port)
    "auth",             # SASL authentication failed or its mechanism is not enabled
    "unknown",          # anything else
]  # fmt: skip
KAFKA_CAUSES: Final[tuple[KafkaCause, ...]] = get_args(KafkaCause)

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, _EMAIL_MISMATCH and _IP_ADDRESS_MISMATCH.
NAME_MISMATCH_CODES: Final = frozenset({62, 63, 64})
UNREACHABLE_ERRNOS: Final = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})


def classify(
    error: BaseException,
    *,
    auth: tuple[type[BaseException], ...] = (),
    timeouts: tuple[type[BaseException], ...] = (),
) -> KafkaCause:
    """The cause named by the first exception in `error`'s chain (outermost first) that names one;
    `auth` and `timeouts` are the Kafka client's own exception types for those causes."""
    for exc in _chain(error):
        cause = _one(exc, auth, timeouts)
        if cause is not None:
            return cause
    return "unknown"


def _one(
    exc: BaseException, auth: tuple[type[BaseException], ...], timeouts: tuple[type[BaseException], ...]
) -> KafkaCause | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls_hostname" if exc.verify_code in NAME_MISMATCH_CODES else "tls_certificate"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if auth and isinstance(exc, auth):
        return "auth"
    if isinstance(exc, TimeoutError) or (timeouts and isinstance(exc, timeouts)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ConnectionError | EOFError):  # reset, aborted, broken pipe, closed mid-read
        return "closed"
    if isinstance(exc, OSError) and exc.errno in UNREACHABLE_ERRNOS:
        return "unreachable"
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    exc: BaseException | None = error
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
