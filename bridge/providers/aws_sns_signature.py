"""Amazon SNS message signatures as pure functions: the string to sign, the URLs SNS names (signing
certificate, subscription confirmation) and which hosts may serve them, topic ARNs, certificates and
keys, and the RSA check and signing.

Signature (providers-3.md §3.2, as AWS's PHP and Ruby validators verify it): for each of `Message`,
`MessageId`, `Subject`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type` that the envelope
carries (null counts as absent), in this order, `key\\nvalue\\n`, of the JSON-decoded values; the
`Signature` is the base64 of an RSA PKCS#1 v1.5 signature over its UTF-8 bytes with SHA-1
(`SignatureVersion` 1) or SHA-256 (2), by the key of the X.509 certificate at `SigningCertURL`. That URL
must be https on `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`) and end in `.pem`: another
amazonaws.com host (an S3 bucket) could serve anyone's certificate.

`cryptography` is imported where a key or certificate is first made (an SNS instance's settings), not
with the registry: its OpenSSL bindings cost ~10 MB of RSS that bridges without an SNS instance need not pay.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import orjson

from bridge.errors import UsageError, VerificationError
from bridge.providers.aws_sns_events import NOTIFICATION, sample_uuid
from bridge.redact import Secret

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

SIGNED_KEYS: Final = ("Message", "MessageId", "Subject", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
VERSIONS: Final = ("1", "2")  # SHA1withRSA, SHA256withRSA
_REGION: Final = r"[a-z0-9-]{3,}"  # AWS's validators allow [a-zA-Z0-9-]{3,}; region names are lower case
_SNS_HOST: Final = re.compile(rf"sns\.({_REGION})\.amazonaws\.com(\.cn)?")
_TOPIC_ARN: Final = re.compile(rf"arn:(aws|aws-cn|aws-us-gov):sns:({_REGION}):([0-9]{{12}}):([A-Za-z0-9_.-]{{1,256}})")
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,200}\.pem")


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic ARN's parts that decide which hosts may speak for it."""

    arn: str
    partition: str
    region: str

    @property
    def sns_host(self) -> str:
        """The SNS endpoint of the topic's region (`sns.<region>.amazonaws.com`, `.com.cn` in China)."""
        return f"sns.{self.region}.amazonaws.com" + (".cn" if self.partition == "aws-cn" else "")


def topic(arn: str) -> Topic:
    """A topic ARN (`arn:aws:sns:<region>:<account>:<name>`); ValueError naming the rule otherwise."""
    match = _TOPIC_ARN.fullmatch(arn)
    if match is None:
        raise ValueError("must be an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:sms-events")
    return Topic(arn, match.group(1), match.group(2))


def check_certificate_url(url: str) -> str:
    """The certificate URL when it is https on an SNS host and ends in .pem (VerificationError 403 otherwise).
    The port, user info, query and fragment are refused too: the URL is fetched as it is."""
    parts = urlsplit(url)
    host = (parts.hostname or "") if parts.scheme == "https" else ""
    if (
        not _SNS_HOST.fullmatch(host)
        or parts.netloc != host
        or not parts.path.endswith(".pem")
        or parts.query
        or parts.fragment
    ):
        raise VerificationError(
            "source_not_allowed",
            "SigningCertURL: must be https://sns.<region>.amazonaws.com[.cn]/<name>.pem",
            status=403,
        )
    return url


def check_subscribe_url(url: str, expected: Topic) -> str:
    """The SubscribeURL when it is https on the SNS host of the topic's region (VerificationError 403 otherwise)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.netloc != expected.sns_host or parts.fragment:
        raise VerificationError(
            "source_not_allowed", "SubscribeURL: must be https on the SNS host of the topic's region", status=403
        )
    return url


def certificate_file_name(url: str) -> str:
    """The last path segment of a certificate URL (`SimpleNotificationService-<hash>.pem`)."""
    return urlsplit(url).path.rsplit("/", 1)[-1]


def check_pin_name(name: str) -> str:
    """A `certificates` key: a certificate URL SNS may name, or only its file name (ValueError otherwise)."""
    if "/" not in name:
        if not _FILE_NAME.fullmatch(name):
            raise ValueError("a pinned certificate's name must be a SigningCertURL or its file name (<name>.pem)")
        return name
    try:
        return check_certificate_url(name)
    except VerificationError as exc:
        raise ValueError(str(exc)) from exc


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    """`key\\nvalue\\n` for each signed key present (null is absent), in SNS's order, as UTF-8; a signed key
    whose value is not a string is a bad signature (SNS sends only strings)."""
    out: list[str] = []
    for key in SIGNED_KEYS:
        value = envelope.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise VerificationError("bad_signature", f"{key}: must be a string")
        out.append(f"{key}\n{value}\n")
    return "".join(out).encode("utf-8", "surrogatepass")


def public_key_of(pem: bytes | str) -> RSAPublicKey:
    """The RSA public key of an X.509 certificate in PEM (ValueError otherwise). Validity dates and chain
    are not checked: the certificate came from the SNS host over HTTPS, or was pinned by the operator."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if not data.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
        raise ValueError("must be an X.509 certificate in PEM (-----BEGIN CERTIFICATE-----)")
    key = x509.load_pem_x509_certificate(data.strip()).public_key()
    if not isinstance(key, RSAPublicKey):
        raise ValueError("certificate must hold an RSA public key")
    return key


def private_key(text: str) -> RSAPrivateKey:
    """An RSA private key for signing (development and tests): PEM, or the base64 of its PKCS#8 DER."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key

    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = load_pem_private_key(stripped.encode("ascii"), password=None)
        else:
            key = load_der_private_key(base64.b64decode(stripped, validate=True), password=None)
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("signing_private_key must be an RSA private key (PEM, or base64 of PKCS#8 DER)") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("signing_private_key must be an RSA private key")
    return key


def same_public_key(a: RSAPublicKey, b: RSAPublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()


def _hash(version: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 (SNS SignatureVersion 1 is SHA-1)


def verify_signature(key: RSAPublicKey, envelope: Mapping[str, Any]) -> None:
    """Refuse (VerificationError) an envelope whose `Signature` is not the key's signature of its string to sign
    under its `SignatureVersion`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

    version = envelope.get("SignatureVersion")
    if version not in VERSIONS:
        raise VerificationError("unsupported_algorithm", "SignatureVersion: must be 1 (SHA1) or 2 (SHA256)")
    given = envelope.get("Signature")
    if not isinstance(given, str) or not given:
        raise VerificationError("missing_credentials", "Signature: required")
    try:
        signature = base64.b64decode(given.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise VerificationError("bad_signature", "Signature: must be base64") from exc
    try:
        key.verify(signature, string_to_sign(envelope), PKCS1v15(), _hash(version))
    except InvalidSignature as exc:
        raise VerificationError("bad_signature", "Signature: does not match") from exc


def signature(signer: RSAPrivateKey, envelope: Mapping[str, Any]) -> str:
    """The `Signature` SNS would put on this envelope (its SignatureVersion, 1 or 2)."""
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

    version = str(envelope.get("SignatureVersion", "2"))
    return base64.b64encode(signer.sign(string_to_sign(envelope), PKCS1v15(), _hash(version))).decode("ascii")


def check_topic_arn(arn: str) -> str:
    """A settings validator: `arn` if it is an SNS topic ARN, else ValueError."""
    topic(arn)
    return arn


def check_pins(pins: dict[str, Secret]) -> dict[str, Secret]:
    """A settings validator: every pin named as SNS names certificates and holding one."""
    for name, pem in pins.items():
        check_pin_name(name)
        try:
            public_key_of(pem.reveal())
        except ValueError as exc:
            raise ValueError(f"certificates[{name!r}]: {exc}") from exc
    return pins


def pinned_url(signer: RSAPrivateKey, pinned: Mapping[str, RSAPublicKey], region: Topic) -> str:
    """The URL of the pinned certificate whose key is `signer`'s (a file-name pin on the topic region's SNS
    host): where a development instance's signed envelopes say their certificate is."""
    public = signer.public_key()
    for name, key in pinned.items():
        if same_public_key(public, key):
            return name if "/" in name else f"https://{region.sns_host}/{name}"
    raise UsageError("signing_private_key belongs to none of the pinned certificates")  # settings prevent it


def signed_envelope(
    body: bytes, first_topic: str, topics: Mapping[str, Topic], signer: RSAPrivateKey,
    pinned: Mapping[str, RSAPublicKey],
) -> tuple[dict[str, Any], str]:
    """A development instance's SNS envelope as SNS would post it: `body` (an envelope without topic or
    signature) completed with its topic (else `first_topic`), the pinned certificate's URL and an unsubscribe
    URL, then signed (SignatureVersion 2 unless given). UsageError when `body` is no JSON envelope."""
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        envelope = None
    if not isinstance(envelope, dict):
        raise UsageError("an aws_sns body must be an SNS JSON envelope (Type, MessageId, Message, Timestamp)")
    arn = envelope.setdefault("TopicArn", first_topic)
    region = topics.get(arn) or topic(first_topic)
    envelope.setdefault("SignatureVersion", "2")
    envelope["SigningCertURL"] = pinned_url(signer, pinned, region)
    if envelope.get("Type") == NOTIFICATION:
        envelope.setdefault("UnsubscribeURL", f"https://{region.sns_host}/?Action=Unsubscribe"
                                              f"&SubscriptionArn={arn}:{sample_uuid('subscription', 0.0)}")
    envelope.pop("Signature", None)
    envelope["Signature"] = signature(signer, envelope)
    return envelope, str(arn)
