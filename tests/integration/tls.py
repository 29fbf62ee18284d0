"""TLS in front of a plaintext broker for tests: a CA and certificates made at run time, and a TLS
terminator (Tansu 0.6 cannot serve TLS itself) that the broker advertises as its address."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bridge.cli.dev_broker import free_port
from tests.integration.proxy import forward


class Authority:
    """A test CA that writes its certificate, and certificates it issues, as PEM files in `directory`."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._cert = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        self.cafile = directory / f"{name}.pem"
        self.cafile.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, file_name: str, *names: x509.GeneralName) -> tuple[Path, Path]:
        """A server certificate for `names` (its subjectAltName): the certificate and key files."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, file_name)]), self._cert.subject,
                     key.public_key())
            .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        certfile, keyfile = self.directory / f"{file_name}.crt", self.directory / f"{file_name}.key"
        certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        keyfile.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return certfile, keyfile


def loopback_ip() -> x509.GeneralName:
    return x509.IPAddress(ipaddress.ip_address("127.0.0.1"))


def dns(name: str) -> x509.GeneralName:
    return x509.DNSName(name)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


class TlsTerminator:
    """Accepts TLS on 127.0.0.1:<port> with the given certificate and forwards the plaintext bytes to
    127.0.0.1:<target_port>. Runs its own event loop in a thread; stop() closes every connection."""

    def __init__(self, target_port: int, certfile: Path, keyfile: Path, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(certfile, keyfile)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TlsTerminator:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), name="tls-terminator", daemon=True)
        self._thread.start()
        if not self._listening.wait(10):
            raise RuntimeError("TLS terminator did not start")
        return self

    def stop(self) -> None:
        loop, stopped, thread = self._loop, self._stopped, self._thread
        if loop is not None and stopped is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(stopped.set)
        if thread is not None:
            thread.join(10)
        self._loop = self._stopped = self._thread = None

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(lambda loop, context: None)  # failed handshakes are the tests' point
        self._stopped = asyncio.Event()
        writers: set[asyncio.StreamWriter] = set()

        async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
            await forward(client_reader, client_writer, self.target_port, writers)

        server = await asyncio.start_server(handle, "127.0.0.1", self.port, ssl=self._context)
        self._listening.set()
        try:
            await self._stopped.wait()
        finally:
            server.close()
            for writer in list(writers):
                writer.transport.abort()
            await server.wait_closed()
