"""The caller's address behind trusted proxies, and the masked parties of the log line."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.events import InboundMessage
from bridge.http.endpoint import masked_parties
from bridge.http.intake import client_address

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("203.0.113.5", "198.51.100.7", ()) == "203.0.113.5"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.5", "198.51.100.7", TRUSTED) == "203.0.113.5"


def test_a_trusted_proxy_names_the_client_in_forwarded_for() -> None:
    assert client_address("10.0.0.2", "198.51.100.7", TRUSTED) == "198.51.100.7"


def test_a_trusted_proxy_without_forwarded_for_is_the_client() -> None:
    assert client_address("10.0.0.2", None, TRUSTED) == "10.0.0.2"
    assert client_address("10.0.0.2", "", TRUSTED) == "10.0.0.2"


def test_spoofed_entries_left_of_the_last_untrusted_hop_are_ignored() -> None:
    # The caller wrote "198.51.100.7"; our proxy appended the real caller 203.0.113.9.
    assert client_address("10.0.0.2", "198.51.100.7, 203.0.113.9", TRUSTED) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    assert client_address("10.0.0.2", "198.51.100.7, 203.0.113.9, 10.0.0.9, 10.0.0.3", TRUSTED) == "203.0.113.9"


def test_ipv6_proxies_and_clients_are_understood() -> None:
    assert client_address("fd00::1", "2001:db8::5", TRUSTED) == "2001:db8::5"


def test_an_empty_hop_gives_no_client() -> None:
    assert client_address("10.0.0.2", "198.51.100.7, ", TRUSTED) is None


def test_garbage_in_forwarded_for_is_returned_as_is_and_matches_no_network() -> None:
    assert client_address("10.0.0.2", "not-an-ip", TRUSTED) == "not-an-ip"


def test_no_peer_gives_no_client() -> None:
    assert client_address(None, "198.51.100.7", TRUSTED) is None


_addresses = st.ip_addresses(v=4).map(str)


@settings(max_examples=200, deadline=None)
@given(peer=_addresses, hops=st.lists(_addresses | st.text(max_size=8), max_size=5))
def test_an_untrusted_peer_can_never_choose_its_address(peer: str, hops: list[str]) -> None:
    if ipaddress.ip_address(peer) in TRUSTED[0]:
        return
    assert client_address(peer, ", ".join(hops), TRUSTED) == peer


@settings(max_examples=200, deadline=None)
@given(spoofed=st.lists(_addresses, max_size=4), real=_addresses)
def test_whatever_a_caller_prepends_a_trusted_proxy_reports_the_real_caller(spoofed: list[str], real: str) -> None:
    if ipaddress.ip_address(real) in TRUSTED[0]:
        return
    assert client_address("10.0.0.2", ", ".join([*spoofed, real]), TRUSTED) == real


def test_masked_parties_never_show_whole_numbers() -> None:
    when = datetime(2021, 2, 7, tzinfo=UTC)
    event = InboundMessage("nxcloud", None, "+18184505018", "+12347200160", "hi", when, when, None, None)
    parties = masked_parties(event)
    assert parties == {"to": "+12*******60", "from": "+18*******18"}
    assert "18184505018" not in repr(parties)


@pytest.mark.parametrize("to", [None, "+12347200160"])
def test_masked_parties_keep_absent_numbers_absent(to: str | None) -> None:
    when = datetime(2021, 2, 7, tzinfo=UTC)
    parties = masked_parties(InboundMessage("tencent", None, "+8613800138000", to, "x", when, when, None, None))
    assert (parties["to"] is None) == (to is None)
