"""Phone numbers: E.164 and region only for valid numbers, else exactly as given."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.phones import REGIONS, Phone, check_region, phone


@pytest.mark.parametrize(
    ("number", "hints", "expected"),
    [
        ("+14155552671", {}, Phone("+14155552671", "US")),  # a valid +1 number
        ("13800138000", {"country_code": "86"}, Phone("+8613800138000", "CN")),  # Tencent mobile + nationcode
        ("8613800138000", {"country_code": "86"}, Phone("+8613800138000", "CN")),  # already carries the 86
        ("8613800138000", {"international": True}, Phone("+8613800138000", "CN")),  # NxCloud: digits with 86
        ("+8613800138000", {}, Phone("+8613800138000", "CN")),
        ("0086 138 0013 8000", {}, Phone("+8613800138000", "CN")),  # 00 international prefix, spaces
        ("13800138000", {}, Phone("13800138000", None)),  # not read as a +1 number any more
        ("13800138000", {"international": True}, Phone("13800138000", None)),  # +1 380… is not valid
        ("013800138000", {}, Phone("013800138000", None)),  # never "+013800138000"
        ("013800138000", {"default_region": "CN"}, Phone("+8613800138000", "CN")),  # national form, region given
        ("13800138000", {"default_region": "CN"}, Phone("+8613800138000", "CN")),
        ("garbage", {}, Phone("garbage", None)),
        ("MyBrand", {"international": True}, Phone("MyBrand", None)),  # alphanumeric sender
        ("12345", {"default_region": "US"}, Phone("12345", None)),  # short code
        ("+999123", {}, Phone("+999123", None)),
        # a country code the provider gave is kept for a possible number libphonenumber does not know as valid
        ("7700900011", {"country_code": "44"}, Phone("+447700900011", None)),  # Tencent nationcode, reserved range
        ("7700900011", {"country_code": "+44"}, Phone("+447700900011", None)),
        ("07700900011", {"country_code": "44"}, Phone("+447700900011", None)),  # the trunk 0 is not part of E.164
        ("447700900011", {"country_code": "44"}, Phone("+447700900011", None)),  # already carries the 44
        ("+44 7700 900011", {}, Phone("+447700900011", None)),  # the `+` gave it
        ("0044 7700 900011", {}, Phone("+447700900011", None)),
        ("+15555550100", {}, Phone("+15555550100", None)),
        ("12345", {"country_code": "44"}, Phone("12345", None)),  # too short to be a UK number
        ("+4412345", {}, Phone("+4412345", None)),  # likewise: as given
        ("7700900011", {"country_code": "999"}, Phone("7700900011", None)),  # no such country code
        ("447700900011", {"international": True}, Phone("447700900011", None)),  # digits only: no code was given
        ("7700900011", {"default_region": "GB"}, Phone("7700900011", None)),  # a configured region gives none
        ("", {}, Phone("", None)),
    ],
)
def test_numbers_become_e164_when_valid_or_possible_with_a_given_country_code(
    number: str, hints: dict[str, Any], expected: Phone
) -> None:
    assert phone(number, **hints) == expected


def test_a_configured_default_region_must_be_a_known_iso_code() -> None:
    assert check_region("CN") == "CN"
    with pytest.raises(ValueError, match="ISO 3166"):
        check_region("XX")
    assert len(REGIONS) > 200


@given(st.text(max_size=40), st.none() | st.text(max_size=4), st.booleans(), st.none() | st.sampled_from(["CN", "US"]))
def test_any_input_gives_the_number_as_given_or_a_valid_e164_with_a_region(
    number: str, country_code: str | None, international: bool, region: str | None
) -> None:
    result = phone(number, country_code=country_code, international=international, default_region=region)
    if result.region is None:  # as given, or E.164 of a possible number whose country code the provider gave
        given_code = number.strip().startswith(("+", "00")) or (country_code or "").strip().lstrip("+").isdigit()
        assert result.number == number or (given_code and result.number.startswith("+")
                                           and result.number[1:].isdigit() and result.number[1:].isascii())
    else:
        assert result.number.startswith("+") and result.number[1:].isdigit() and result.region in REGIONS


def test_the_number_plan_answers_as_the_full_check_for_numbers_that_share_its_key() -> None:
    """NumberPlan remembers validity and region by (country code, first 7 national digits, length): every
    number of each region's example kinds with its later digits redrawn (so the remembered answer is what
    is being judged), and numbers of any country code and length, answer exactly as libphonenumber does."""
    import random

    import phonenumbers as pn

    from bridge.phones import NumberPlan, _checked

    rng = random.Random(19)
    examples: list[tuple[int, str]] = []
    for region in sorted(pn.SUPPORTED_REGIONS):
        for kind in (pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE, pn.PhoneNumberType.TOLL_FREE):
            example = pn.example_number_for_type(region, kind)
            if example is not None and example.country_code is not None:
                examples.append((example.country_code, str(example.national_number)))
    numbers = []
    for cc, nsn in examples:
        keep = min(NumberPlan.PREFIX_DIGITS, len(nsn) - 1)
        for _ in range(12):
            numbers.append(f"+{cc}{nsn[:keep]}" + "".join(rng.choice("0123456789") for _ in nsn[keep:]))
    codes = sorted(pn.COUNTRY_CODE_TO_REGION_CODE)
    for _ in range(4000):
        numbers.append(f"+{rng.choice(codes)}" + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 14))))
    plan = NumberPlan()
    answers = [plan.valid(n) for n in numbers]
    expected = [_checked(n, None) for n in numbers]
    wrong = [(n, a, e) for n, a, e in zip(numbers, answers, expected, strict=True) if a != e]
    assert not wrong, wrong[:5]
    assert sum(a is not None for a in answers) > len(examples) * 4  # most redrawn example numbers are valid
