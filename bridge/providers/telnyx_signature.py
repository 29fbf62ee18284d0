"""Telnyx's Ed25519 webhook signature as pure functions: the keys as the portal gives them, the signed
message, the check of `telnyx-signature-ed25519`, and the signing a development instance does.

Signature (providers-2.md §6.4, as every current Telnyx SDK verifies it): the base64 of a pure
Ed25519 signature, by the account's key pair, over the bytes of the `telnyx-timestamp` header as
received, `|`, and the raw body. Verifying needs only the account's public key; signing needs the
private key, which only Telnyx has (a development instance may hold one of its own).

`cryptography` is imported where a key is first made (a Telnyx instance's settings), not with the
registry: its OpenSSL bindings cost ~10 MB of RSS that bridges without a Telnyx instance need not pay.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Final

from bridge.errors import VerificationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE: Final = "telnyx-signature-ed25519"
TIMESTAMP: Final = "telnyx-timestamp"
_SPKI_PREFIX: Final = bytes.fromhex("302a300506032b6570032100")  # SubjectPublicKeyInfo of an Ed25519 key
_PKCS8_PREFIX: Final = bytes.fromhex("302e020100300506032b657004220420")  # PrivateKeyInfo of an Ed25519 key


def _key_bytes(text: str, what: str, sizes: dict[int, bytes]) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} must be base64") from exc
    prefix = sizes.get(len(raw))
    if prefix is None or not raw.startswith(prefix):
        raise ValueError(f"{what} must be the base64 of a 32-byte Ed25519 key (raw, or in its DER form)")
    return raw[len(prefix):]


def public_key(text: str) -> Ed25519PublicKey:
    """The account's public key as the portal shows it (base64 of 32 bytes; SPKI DER accepted)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(_key_bytes(text, "public_key", {32: b"", 44: _SPKI_PREFIX}))


def private_key(text: str) -> Ed25519PrivateKey:
    """A private key for signing: base64 of the 32-byte seed (PKCS#8 DER accepted)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(_key_bytes(text, "signing_private_key", {32: b"", 48: _PKCS8_PREFIX}))


def check_public_key(text: str) -> str:
    """A settings validator: the text when it is a public key (ValueError naming the rule otherwise)."""
    public_key(text)
    return text


def same_key(private: str, public: str) -> bool:
    """Whether the private key (signing_private_key) belongs to the public key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def raw(key: Ed25519PublicKey) -> bytes:
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    return raw(private_key(private).public_key()) == raw(public_key(public))


def signed_message(timestamp: str, body: bytes) -> bytes:
    """What Telnyx signs: the timestamp header as received, `|`, the raw body."""
    return timestamp.encode("utf-8", "surrogatepass") + b"|" + body


def verify_signature(key: Ed25519PublicKey, given: str, timestamp: str, body: bytes) -> bytes:
    """The signature bytes when `given` (the header) is the key's signature of this timestamp and body;
    VerificationError (bad_signature) when it is not base64 of 64 bytes or does not match."""
    from cryptography.exceptions import InvalidSignature  # loaded with the key: a lookup here

    try:
        signature = base64.b64decode(given.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise VerificationError("bad_signature", f"header {SIGNATURE}: must be base64") from exc
    if len(signature) != 64:
        raise VerificationError("bad_signature", f"header {SIGNATURE}: must be a 64-byte Ed25519 signature")
    try:
        key.verify(signature, signed_message(timestamp, body))
    except InvalidSignature as exc:
        raise VerificationError("bad_signature", f"header {SIGNATURE}: does not match") from exc
    return signature


def signature_header(signer: Ed25519PrivateKey, timestamp: str, body: bytes) -> str:
    """The `telnyx-signature-ed25519` value Telnyx would send with this timestamp and body."""
    return base64.b64encode(signer.sign(signed_message(timestamp, body))).decode("ascii")
