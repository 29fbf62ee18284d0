"""Phone numbers: E.164 and the ISO 3166 region when a number is valid, else the number as given.

A country code the provider gave (a separate field or a `+`) is never dropped: such a number that
is not valid but possible (a reserved range, or one newer than libphonenumber's metadata) is
published as `+<cc><number>`, without a region."""

from __future__ import annotations

import functools
from typing import Final, NamedTuple

import phonenumbers

REGIONS: Final = frozenset(phonenumbers.SUPPORTED_REGIONS)  # ISO 3166-1 alpha-2 codes libphonenumber knows
_E164: Final = phonenumbers.PhoneNumberFormat.E164
_SEPARATORS: Final = str.maketrans("", "", " -().\u00a0")
_MAX_LENGTH: Final = 32


class Phone(NamedTuple):
    """A number as published (E.164 when valid, else as given) and its region (None if unknown)."""

    number: str
    region: str | None


def check_region(region: str) -> str:
    """A configured default region: an ISO 3166-1 alpha-2 code libphonenumber knows."""
    if region not in REGIONS:
        raise ValueError("must be an ISO 3166-1 alpha-2 region code, e.g. CN or US")
    return region


@functools.lru_cache(maxsize=8192)
def phone(
    number: str, *, country_code: str | None = None, international: bool = False, default_region: str | None = None
) -> Phone:
    """`number` in E.164 when it parses as a valid number, tried in this order:

    1. with a leading `+` (or `00`), as an international number;
    2. with `country_code` (digits, e.g. Tencent's `nationcode`) in front, unless it is already there;
    3. as international digits without `+`, where the provider documents that (`international`);
    4. as a national number of `default_region`, the instance's configured region.
    If none is valid but the provider gave the country code (1 or 2), the first of those that is a
    possible number (its length fits the country's plan) is returned in E.164 with no region.
    Anything else (short codes, alphanumeric senders, invalid numbers) is returned as given.
    """
    if len(number) > _MAX_LENGTH:
        return Phone(number, None)
    if international and country_code is None and number.isdigit() and number.isascii():
        found = _PLAN.valid("+" + number)  # the usual receipt: international digits without `+` (step 3)
        if found is not None:
            return found
    digits = number.strip().translate(_SEPARATORS)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.lstrip("+").isdigit() or not digits.isascii():
        return Phone(number, None)
    given: list[str] = []  # international forms whose country code the provider gave
    if digits.startswith("+"):
        given.append(digits)
    else:
        cc = (country_code or "").strip().lstrip("+")
        if cc.isdigit() and cc.isascii():
            given.append("+" + cc + digits)
            if digits.startswith(cc):
                given.append("+" + digits)
    candidates: list[tuple[str, str | None]] = [(text, None) for text in given]
    if international and not digits.startswith("+"):
        candidates.append(("+" + digits, None))
    if default_region is not None and not digits.startswith("+"):
        candidates.append((digits, default_region))
    for text, region in candidates:
        found = _valid(text, region)
        if found is not None:
            return found
    for text in given:
        found = _possible(text)
        if found is not None:
            return found
    return Phone(number, None)


def _valid(text: str, region: str | None) -> Phone | None:
    if region is None:
        return _PLAN.valid(text)
    return _checked(text, region)


class NumberPlan:
    """Validity and region of international numbers (`+<digits>`) remembered by what decides them in
    libphonenumber's metadata: the country code, the first PREFIX_DIGITS national digits and the length.

    Every region's number patterns fix a number's type by its leading digits and its length; the digits
    after the first few are free (`\\d{n}`). A full check (parse, region, validate: 30-60 µs, more for +1,
    whose region means trying up to 25 NANPA regions' patterns) then runs once per (country code, prefix,
    length) instead of once per number. An answer is kept only when the E.164 form is the digits as given
    (nothing stripped); at most MAX_ENTRIES are kept (then it starts afresh). tests/unit/test_phones.py
    holds it equal to the full check on a large random corpus over every country code; the benchmark's
    tests/bench/phones_study.py measured 0 differences in 200,000 with 6 digits (7 are kept here)."""

    PREFIX_DIGITS: Final = 7
    MAX_ENTRIES: Final = 50_000

    def __init__(self) -> None:
        self._codes = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
        self._known: dict[tuple[str, str, int], str | None] = {}

    def valid(self, text: str) -> Phone | None:
        digits = text[1:]
        if not text.startswith("+") or not digits.isdigit():
            return _checked(text, None)
        codes = self._codes
        if digits[:1] in codes:
            cc = digits[:1]
        elif digits[:2] in codes:
            cc = digits[:2]
        elif digits[:3] in codes:
            cc = digits[:3]
        else:
            return None  # no such country code: parse would refuse it
        national = digits[len(cc):]
        key = (cc, national[: self.PREFIX_DIGITS], len(national))
        known = self._known
        if key in known:
            region = known[key]
            return None if region is None else Phone(text, region)
        found = _checked(text, None)
        if found is None or found.number == text:
            if len(known) >= self.MAX_ENTRIES:
                known.clear()
            known[key] = None if found is None else found.region
        return found


def _checked(text: str, region: str | None) -> Phone | None:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # is_valid_number(parsed) is exactly this check, but it looks the region up itself; once is enough
    # (for +1 that lookup tries up to 25 NANPA regions' patterns).
    found = phonenumbers.region_code_for_number(parsed)
    if found is None or not phonenumbers.is_valid_number_for_region(parsed, found):
        return None
    return Phone(phonenumbers.format_number(parsed, _E164), found)


_PLAN: Final = NumberPlan()


def _possible(text: str) -> Phone | None:
    """An international number whose length fits its country's plan, in E.164 (no region: not known valid).
    Strictly possible: a number dialable only within its area (IS_POSSIBLE_LOCAL_ONLY) is no E.164 number."""
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(parsed) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return Phone(phonenumbers.format_number(parsed, _E164), None)
