"""Times and ids of the sample callbacks, written as each provider writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.providers.samples import beijing_text, iso_text, time_text, uuid_at

NOW = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC).timestamp()


def test_wall_clock_times_are_utc_unless_a_zone_is_given_and_beijing_is_eight_hours_ahead() -> None:
    assert time_text(NOW) == "2023-11-14 22:13:20"
    assert time_text(NOW, "%y%m%d%H%M") == "2311142213"
    assert time_text(NOW, "%Y-%m-%d %H:%M:%S.%f") == "2023-11-14 22:13:20.123456"
    assert beijing_text(NOW) == "2023-11-15 06:13:20"


def test_iso_times_have_milliseconds_and_z_unless_told_otherwise() -> None:
    assert iso_text(NOW) == "2023-11-14T22:13:20.123Z"
    assert iso_text(NOW, zulu=False) == "2023-11-14T22:13:20.123+00:00"
    assert iso_text(int(NOW), timespec="seconds", zulu=False) == "2023-11-14T22:13:20+00:00"


def test_uuid_shaped_ids_change_with_the_millisecond() -> None:
    first = uuid_at("aaaaaaaa-bbbb-cccc-dddd", NOW)
    assert first == "aaaaaaaa-bbbb-cccc-dddd-" + f"{int(NOW * 1000) % 10**12:012d}"
    assert len(first.split("-")[-1]) == 12
    assert uuid_at("aaaaaaaa-bbbb-cccc-dddd", NOW + 0.001) != first
