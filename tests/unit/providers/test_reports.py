"""each_report: every report of a multi-report callback becomes an event or a BadReport of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.errors import MalformedCallbackError
from bridge.events import DeliveryReceipt, Status
from bridge.providers.base import BadReport
from bridge.providers.reports import each_report

RECEIVED = datetime(2025, 1, 1, tzinfo=UTC)


def receipt(report: Any, index: int) -> DeliveryReceipt:
    if not isinstance(report, dict) or "id" not in report:
        raise MalformedCallbackError("missing_field", f"[{index}].id: required")
    return DeliveryReceipt(provider="x", message_id=report["id"], status=Status.DELIVERED, status_code="ok",
                           status_detail=None, to="+8613800138000", region="CN", from_=None, occurred_at=RECEIVED,
                           received_at=RECEIVED, segments=None, price=None, raw=None)


def test_good_reports_become_events_in_order_and_bad_ones_bad_reports_at_their_index() -> None:
    reports: list[Any] = [{"id": "a"}, {"no": "id"}, "not an object", {"id": "d"}]
    items = each_report(reports, receipt)
    assert [type(item) for item in items] == [DeliveryReceipt, BadReport, BadReport, DeliveryReceipt]
    first, second, third, fourth = items
    assert isinstance(first, DeliveryReceipt) and isinstance(fourth, DeliveryReceipt)
    assert (first.message_id, fourth.message_id) == ("a", "d")
    assert isinstance(second, BadReport) and isinstance(third, BadReport)
    assert (second.index, second.report, second.error.reason) == (1, {"no": "id"}, "missing_field")
    assert (third.index, third.report, str(third.error)) == (2, "not an object", "[2].id: required")
    assert second.body is None


def test_no_reports_give_no_items() -> None:
    assert each_report([], receipt) == []


def test_an_error_that_is_not_a_malformed_report_propagates() -> None:
    def broken(report: Any, index: int) -> DeliveryReceipt:
        raise KeyError("a bug, not a bad report")

    with pytest.raises(KeyError):
        each_report([{"id": "a"}], broken)
