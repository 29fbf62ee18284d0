"""What phone numbers cost per callback, and two ways to pay less, checked against `phonenumbers`.

    .venv/bin/python -m tests.bench.phones_study                 # 20,000 random numbers
    .venv/bin/python -m tests.bench.phones_study --random 200000

1. The cost of each `phonenumbers` call bridge.phones._valid makes (parse, region_code_for_number,
   is_valid_number_for_region, format_number; and is_valid_number, which the bridge no longer
   calls) on the benchmark's numbers: NxCloud recipients (+1 818 200-0000 on, distinct: every one
   misses the bridge's lru_cache), Tencent (86 + 138xxxxxxxx), Twilio (+1555xxxxxxx).
2. `rphonenumbers` (optional; `pip install rphonenumbers`): the same calls, and its answers
   (E.164 and region, the bridge's `phone()` logic run on each library) against phonenumbers'.
3. A prototype fast path (`PrefixCache`, here only): the answer of a number whose country code,
   first `digits` national digits and length were seen before is taken from the first one's
   (region, or invalid); E.164 is then "+" + cc + national number. A differential test runs it
   against phonenumbers on every number of the corpora and of a random corpus over every country
   calling code (random lengths 4-14, random digits, plus numbers built from each region's
   example numbers with random tails): every answer must match.

All timings are CPU time (`time.process_time_ns`), best of 5 repeats.
"""

from __future__ import annotations

import argparse
import importlib
import random
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import phonenumbers

Answer = tuple[str, str | None]  # (E.164 or the number as given, region or None)


def valid(lib: ModuleType, text: str, region: str | None) -> Answer | None:
    """bridge.phones._valid, on either library."""
    try:
        parsed = lib.parse(text, region)
    except lib.NumberParseException:
        return None
    found = lib.region_code_for_number(parsed)
    if found is None or not lib.is_valid_number_for_region(parsed, found):
        return None
    return lib.format_number(parsed, lib.PhoneNumberFormat.E164), found


class PrefixCache:
    """Answers for "+<digits>" keyed by (country code, first `digits` national digits, length)."""

    def __init__(self, lib: ModuleType, digits: int) -> None:
        self._lib = lib
        self._digits = digits
        self._codes = {str(c) for c in lib.COUNTRY_CODE_TO_REGION_CODE}
        self._known: dict[tuple[str, str, int], str | None] = {}  # -> region (None: invalid)
        self.hits = 0
        self.misses = 0

    def __call__(self, text: str) -> Answer | None:
        digits = text[1:]
        cc = next((digits[:n] for n in (1, 2, 3) if digits[:n] in self._codes), None)
        if cc is None:
            return None
        national = digits[len(cc):]
        key = (cc, national[: self._digits], len(national))
        if key in self._known:
            self.hits += 1
            region = self._known[key]
            return None if region is None else (text, region)
        self.misses += 1
        found = valid(self._lib, text, None)
        if found is None:
            self._known[key] = None
        elif found[0] == text:  # cached only when E.164 is the digits as given (no prefix stripped)
            self._known[key] = found[1]
        return found


def best_us(fn: Callable[[], Any], count: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time_ns()
        fn()
        best = min(best, (time.process_time_ns() - start) / 1000 / count)
    return best


def corpora(random_count: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    nxcloud = [f"+1818{2_000_000 + i:07d}" for i in range(5_000)]
    tencent = [f"+86138{i:08d}" for i in range(0, 5_000_000, 1000)]
    twilio = [f"+1555{i:07d}" for i in range(5_000)]
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    examples: list[tuple[int, str]] = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None and example.country_code is not None:
                examples.append((example.country_code, str(example.national_number)))
    rand: list[str] = []
    for i in range(random_count):
        if i % 2:  # an example number with a random tail of 1-5 digits: mostly valid numbers
            cc, nsn = rng.choice(examples)
            tail = rng.randint(1, min(5, len(nsn) - 1))
            nsn = nsn[:-tail] + "".join(rng.choice("0123456789") for _ in range(tail))
            rand.append(f"+{cc}{nsn}")
        else:  # any country code, any length: mostly invalid numbers
            cc = rng.choice(codes)
            length = rng.randint(4, 14)
            rand.append(f"+{cc}" + "".join(rng.choice("0123456789") for _ in range(length)))
    return {"nxcloud": nxcloud, "tencent": tencent, "twilio": twilio, "random": rand}


def call_costs(lib: ModuleType, numbers: Sequence[str]) -> dict[str, float]:
    parsed = [lib.parse(n, None) for n in numbers]
    regions = [lib.region_code_for_number(p) for p in parsed]
    n = len(numbers)
    e164 = lib.PhoneNumberFormat.E164
    return {
        "parse": best_us(lambda: [lib.parse(x, None) for x in numbers], n),
        "region_code_for_number": best_us(lambda: [lib.region_code_for_number(p) for p in parsed], n),
        "is_valid_number_for_region": best_us(
            lambda: [lib.is_valid_number_for_region(p, r) for p, r in zip(parsed, regions, strict=True) if r], n),
        "format_number E164": best_us(lambda: [lib.format_number(p, e164) for p in parsed], n),
        "is_valid_number (not called)": best_us(lambda: [lib.is_valid_number(p) for p in parsed], n),
        "bridge _valid, whole": best_us(lambda: [valid(lib, x, None) for x in numbers], n),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--random", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--digits", type=int, nargs="*", default=[4, 5, 6, 7])
    parser.add_argument("--no-costs", action="store_true", help="identity checks only (large corpora)")
    options = parser.parse_args(argv)
    sets = corpora(options.random, options.seed)
    libs: dict[str, ModuleType] = {"phonenumbers": phonenumbers}
    try:
        libs["rphonenumbers"] = importlib.import_module("rphonenumbers")  # optional, untyped
    except ImportError:
        print("rphonenumbers: not installed")
    print("## µs per number (CPU, best of 5)\n")
    for name, lib in ({} if options.no_costs else libs).items():
        print(f"### {name} {getattr(lib, '__version__', '')}\n")
        print("| call | " + " | ".join(sets) + " |")
        print("|---|" + "---:|" * len(sets))
        costs = {k: call_costs(lib, v) for k, v in sets.items()}
        for call in next(iter(costs.values())):
            print(f"| {call} | " + " | ".join(f"{costs[k][call]:.1f}" for k in sets) + " |")
        print()
    reference = {k: [valid(phonenumbers, n, None) for n in v] for k, v in sets.items()}
    valid_share = {k: sum(a is not None for a in v) / len(v) for k, v in reference.items()}
    print("valid share: " + ", ".join(f"{k} {v:.0%}" for k, v in valid_share.items()) + "\n")
    if "rphonenumbers" in libs:
        for k, numbers in sets.items():
            other = [valid(libs["rphonenumbers"], n, None) for n in numbers]
            diff = [(n, a, b) for n, a, b in zip(numbers, reference[k], other, strict=True) if a != b]
            print(f"rphonenumbers vs phonenumbers, {k}: {len(diff)} different answers of {len(numbers)}"
                  + (f", e.g. {diff[:3]}" if diff else ""))
        print()
    print("## Prefix cache prototype (country code, first N national digits, length) vs phonenumbers\n")
    print("| N | corpus | numbers | hits | mismatches | µs per number (warm run) |")
    print("|---:|---|---:|---:|---:|---:|")
    for digits in options.digits:
        for k, numbers in sets.items():
            cache = PrefixCache(phonenumbers, digits)
            answers = [cache(n) for n in numbers]
            wrong = [(n, a, b) for n, a, b in zip(numbers, reference[k], answers, strict=True) if a != b]
            hits = cache.hits
            def again(c: PrefixCache = cache, ns: list[str] = numbers) -> None:
                for n in ns:
                    c(n)

            warm = best_us(again, len(numbers), 1 if options.no_costs else 5)
            print(f"| {digits} | {k} | {len(numbers)} | {hits} | {len(wrong)} | {warm:.1f} |"
                  + (f" e.g. {wrong[:2]}" if wrong else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
