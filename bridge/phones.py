"""Phone numbers: E.164 and the ISO 3166 region when a number is valid, else the number as given."""

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
    Anything else (short codes, alphanumeric senders, invalid numbers) is returned as given.
    """
    if len(number) > _MAX_LENGTH:
        return Phone(number, None)
    digits = number.strip().translate(_SEPARATORS)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.lstrip("+").isdigit() or not digits.isascii():
        return Phone(number, None)
    candidates: list[tuple[str, str | None]] = []
    if digits.startswith("+"):
        candidates.append((digits, None))
    else:
        cc = (country_code or "").strip().lstrip("+")
        if cc.isdigit() and cc.isascii():
            candidates.append(("+" + cc + digits, None))
            if digits.startswith(cc):
                candidates.append(("+" + digits, None))
        if international:
            candidates.append(("+" + digits, None))
        if default_region is not None:
            candidates.append((digits, default_region))
    for text, region in candidates:
        found = _valid(text, region)
        if found is not None:
            return found
    return Phone(number, None)


def _valid(text: str, region: str | None) -> Phone | None:
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
