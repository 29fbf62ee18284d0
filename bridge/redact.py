"""Keeping secrets and personal data out of logs, errors and metrics (message text is never logged at all)."""

from __future__ import annotations

from typing import Any, Final

MASK: Final = "**********"


class Secret:
    """A secret value, masked in `repr` and `str`; read it with `reveal()` at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Let pydantic settings declare `Secret` fields: a non-empty string, masked when dumped."""
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(min_length=1),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


_STARS: Final = tuple("*" * n for n in range(64))  # every accepted callback masks its numbers for the log line


def mask_phone(number: str | None) -> str | None:
    """Keep a number's country-code-ish head and last two digits: `+8613800138000` -> `+86*********00`."""
    if number is None:
        return None
    n = len(number)
    head = 3 if number[:1] == "+" else 2
    hidden = n - head - 2
    if hidden < 1:  # nothing would be left to hide (e.g. "+1234"): hide it all
        return "*" * n
    return number[:head] + (_STARS[hidden] if hidden < 64 else "*" * hidden) + number[-2:]
