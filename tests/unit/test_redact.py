"""Secrets and personal data stay out of logs, errors and metrics."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bridge.redact import MASK, Secret, mask_phone

SECRET = "s3cr3t-value-0123456789"


class Holder(BaseModel):
    secret: Secret


def test_secret_is_masked_in_repr_str_and_format() -> None:
    secret = Secret(SECRET)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret), "%s" % (secret,)):  # noqa: UP031
        assert SECRET not in text
        assert MASK in text
    assert SECRET not in repr([secret, {"k": secret}])


def test_secret_is_read_only_through_reveal() -> None:
    assert Secret(SECRET).reveal() == SECRET


def test_secret_compares_and_hashes_by_value_without_equalling_its_plain_text() -> None:
    assert Secret(SECRET) == Secret(SECRET)
    assert Secret(SECRET) != Secret(SECRET + "x")
    assert Secret(SECRET) != SECRET
    assert hash(Secret(SECRET)) == hash(Secret(SECRET))
    assert len({Secret(SECRET), Secret(SECRET)}) == 1


def test_secret_truthiness_follows_its_value() -> None:
    assert Secret(SECRET)
    assert not Secret("")


def test_secret_has_no_instance_dict_to_leak_through_vars() -> None:
    with pytest.raises(TypeError):
        vars(Secret(SECRET))


def test_secret_is_masked_in_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("bridge.test").info("token is %s (%r)", Secret(SECRET), Secret(SECRET))
    assert SECRET not in caplog.text
    assert MASK in caplog.text


def test_secret_fields_of_a_model_are_masked_when_dumped() -> None:
    holder = Holder.model_validate({"secret": SECRET})
    assert holder.secret.reveal() == SECRET
    for text in (repr(holder), str(holder), holder.model_dump_json(), repr(holder.model_dump())):
        assert SECRET not in text


def test_secret_fields_refuse_empty_and_non_string_values_without_echoing_them() -> None:
    with pytest.raises(ValidationError, match="at least 1 character"):
        Holder.model_validate({"secret": ""})
    with pytest.raises(ValidationError) as caught:
        Holder.model_validate({"secret": 1234567890123})
    assert "1234567890123" not in str(caught.value.errors(include_input=False))


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+8613800138000", "+86*********00"),
        ("13800138000", "13*******00"),
        ("+18184505018", "+18*******18"),
        ("12345", "12*45"),
        ("+12345", "+12*45"),
        ("+1234", "*****"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_phone_keeps_only_the_head_and_the_last_two_digits(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


def test_mask_phone_of_none_is_none() -> None:
    assert mask_phone(None) is None


@settings(max_examples=300, deadline=None)
@given(number=st.from_regex(r"\A\+?[0-9]{0,16}\Z") | st.text(max_size=20))
def test_mask_phone_always_hides_something_and_keeps_the_length(number: str) -> None:
    masked = mask_phone(number)
    assert masked is not None and len(masked) == len(number)
    if number and "*" not in number:
        assert masked != number
    if number:
        assert "*" in masked
        assert sum(a == b != "*" for a, b in zip(masked, number, strict=True)) <= max(0, len(number) - 1)
        assert sum(c != "*" for c in masked) <= 5


