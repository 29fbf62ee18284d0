"""The development signer of the `aws_sns` kind: a well-known RSA key and its self-signed certificate, which the
development instance pins (so `sms-bridge send` and `dev` sign as SNS would, and nothing is fetched), and a
maker of fresh pairs for tests. Never pin this certificate anywhere else: its private key is public.

Only AWS holds the keys of SNS's real certificates; a production instance verifies with them and cannot sign.
"""

from __future__ import annotations

import datetime
from typing import Final

DEV_CERTIFICATE_URL: Final = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-sms-bridge-development.pem"
DEV_TOPIC_ARN: Final = "arn:aws:sns:us-east-1:111122223333:sms-bridge-dev"

DEV_PRIVATE_KEY: Final = (  # base64 of PKCS#8 DER, RSA 2048, made once with new_pair()
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDbGvbf6rW+QARVRT/uzXSDoKc5JCg9me98iMP1jvvOYM+hNGvv"
    "UOU1ocAnTnT0qtX87N4fFtOJ75+Eb2G5aQ50e8+pTT3X1UyM4enM3Aq8tIG19YrpcuSNyzDmxQnTj1J+Z71VfaaqHVkYat941fjR"
    "jLFUopgdWXxIDUyoC1lydT3HUW09CSwxL8phcAOibXdxyVzXjpRWbsQbI9S2DUcB78jB8GgVIc2+2uHTqbszIzzA9/QZfa9hqFuL"
    "c9A51KZPWFGUsmnVQOsb/01f7hSe3syABe9uTqAdkGBIctD6wXNfAlEEQFViSyHJGcQJzGPeQcn3doV0lDUXcm3wXfExAgMBAAEC"
    "ggEAAQUKGxari9weaQsudf0MysQHozNw4ICD5c95If5tW5OFw9lLm0yEFJDRJR2vW6gj4M51Zi2kBGNSGbqu+L7ta0tcNwx9+jAq"
    "8AjpHqPzhNdONzuSTu3S9Hn6m0hVeF+VYbM35Vr1WJtUW9G7goN0af0+ogczsAdHlcpCDhInc2noDrsEOcaHJJJkSbUo75ca8H4G"
    "9A4vfid2eboMdYx2BWBKLObK6wyuN08h7BKE8dFKB/rypgT8qBLJ3a0Fz00K6ygywFmlTqednUYSgOAC0StkmtogkYj612KGnfzG"
    "MT8wz1EQPx/Bhv16m7tkboAts18wUV6kEgtX54wXKey05QKBgQD/i910wjKBt3+I8S9+DQ2ao4U0pARHxoIl5taSvXmcxo7bsbCf"
    "RxSvOmjffcAE/ZHNHMprmmkRaIt/SlME7jStq4Z2EvMSuGC9dOkTtOz2ThWS8nYwKGgallb7a2YcvmGgx1amdN/w6VEaRWCNln+l"
    "9+xXZpH+f835dzyRtSDaBwKBgQDbfonUkAdqmfllcmTprNdxtR0sVCh5mgigkDCQXjRXRgd+HAbcPgVXmfnJ7Xa1FlDu/tg7Td1+"
    "BwINYsuc3B2wSelvnEXsQ4zbfWH0C+/AKFI6L8ehVxEDH604yWqPSXt5MjddLtmM+WQfrbCukQEII7LgDSZ3Rdfm8aGJ9oVtBwKB"
    "gFI8Tj3eqKY5yN7mzqO/y5rx+FHiXkZCyWstB+wc8V/UPfDRE8eN9kgVgd4592sjtqHNHA7Yl+s0O3/xCRpTFby1sAWbP4HMt8UA"
    "NGlVFdSFeEfbotEIj8fOjZtHCotBcOVugKH8hnxeeOz9Wn716YodaH8P0PeXZU9cYa96HGJNAoGAevbx6mZh8UOfZ0jl5c9Rxz7q"
    "wAnJvw4fJSyCOG6+LeJqkijLYxlPztrRCGIDLcH5x1p38wlVO6RbbvpZDWB3NWrC3ycSOSFCyTf950XEo8czAawAz49CVZiqZ3TX"
    "QLyu8p/CSm7Tq9mPUPvyTmmnxVKShFh5ozo6kQPvNqYn64MCgYAILWzfhoQTwbuor8xTfeDQ6eghBi/mEy19drw5zOu6IJUTLPuq"
    "uxB/I5hhK0t0jVQVa3PoXjlaKtQS9AKvBaTreBAlSy10sds6yUZWvs03Y+VS2gaUf6sjPwQRpATHCFbZFGHc4fFiphXh1LshzbK5"
    "ZETTlRlaoHbH+XxDT1OcyQ=="
)

DEV_CERTIFICATE: Final = """\
-----BEGIN CERTIFICATE-----
MIIC5zCCAc+gAwIBAgIBATANBgkqhkiG9w0BAQsFADA2MTQwMgYDVQQDDCtzbXMt
YnJpZGdlIGRldmVsb3BtZW50IFNOUyBzaWduZXIgKG5vdCBBV1MpMCAXDTI2MDEw
MTAwMDAwMFoYDzIxMjYwMTAxMDAwMDAwWjA2MTQwMgYDVQQDDCtzbXMtYnJpZGdl
IGRldmVsb3BtZW50IFNOUyBzaWduZXIgKG5vdCBBV1MpMIIBIjANBgkqhkiG9w0B
AQEFAAOCAQ8AMIIBCgKCAQEA2xr23+q1vkAEVUU/7s10g6CnOSQoPZnvfIjD9Y77
zmDPoTRr71DlNaHAJ0509KrV/OzeHxbTie+fhG9huWkOdHvPqU0919VMjOHpzNwK
vLSBtfWK6XLkjcsw5sUJ049Sfme9VX2mqh1ZGGrfeNX40YyxVKKYHVl8SA1MqAtZ
cnU9x1FtPQksMS/KYXADom13cclc146UVm7EGyPUtg1HAe/IwfBoFSHNvtrh06m7
MyM8wPf0GX2vYahbi3PQOdSmT1hRlLJp1UDrG/9NX+4Unt7MgAXvbk6gHZBgSHLQ
+sFzXwJRBEBVYkshyRnECcxj3kHJ93aFdJQ1F3Jt8F3xMQIDAQABMA0GCSqGSIb3
DQEBCwUAA4IBAQADooK7XIyN95o4VtDCaCmduxVbWItlBOgHFY88RcI+XDxgbBb3
yv0HbgMyxMumw7G330/SBdkWczv1RRUKzmFVB8mYjAaeJL6NV2H5gpwtkAwswdOd
gxBOpgVcs/t8FsmUPMS81TWGb5YeYxnGnCXp9PZYYdetIX5bibK6l7X7xKeznVRw
6Itwmv/ui1gu+p0wzoIY/oyS9n0rGE/NIgPb2pmNPi7gx6eUp/Hem0rpZspNIJ78
4BbwkZ0KgAWXlvKiG5V+AF7IYG7JczBOAHBpmLJ289npr/EPcCuOG1eSn5fTk9Ry
lZkpqku6jstrrWM9Z7t6F7yiypyxxXJZ9fRw
-----END CERTIFICATE-----
"""


def new_pair(common_name: str = "sms-bridge test SNS signer") -> tuple[str, str]:
    """A fresh RSA 2048 key (base64 of PKCS#8 DER) and its self-signed certificate (PEM): tests and forgers."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500)).sign(key, hashes.SHA256())
    )
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return base64.b64encode(der).decode("ascii"), certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
