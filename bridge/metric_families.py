"""Lock-free counter and histogram families: cheap to record per callback, rendered at scrape time.

prometheus_client 0.26 takes a lock per `Counter.inc()`, and `Histogram.observe()` walks the
buckets in a Python loop under two locks. Here a child is a `__slots__` object: a counter adds
one to a float; a histogram adds the value to its sum and one to the bucket that
`bisect_left` finds among the upper bounds. Each family is a `Collector` registered on the
injected registry. At scrape time it renders exactly what prometheus_client's `Counter` and
`Histogram` render: the same names, help texts, label names and values, `le` strings,
cumulative buckets up to `+Inf`, `_count`, `_sum` and `_created` (unless prometheus_client's
own switch, `PROMETHEUS_DISABLE_CREATED_SERIES` or `disable_created_metrics()`, turned them
off). They are registered under the same names, so `name[]` filters and duplicate checks work
as before.

Thread safety: there is no lock. A child must be written from one thread only, because `+=` is
not atomic across threads. In the bridge every recording runs on the event loop's thread.
`BridgeMetrics` is called from the endpoint, the pipeline and the 404 app, all coroutines. The
spool's writer thread and `asyncio.to_thread` (bridge/spool/store.py, bridge/http/outbound.py)
record nothing, and the spool counts its records through prometheus_client
(bridge/spool/metrics.py) on the loop as well. A scrape may read from any thread: under the
GIL it sees each value whole, and `_count` is summed from the same snapshot of bucket counts
as `+Inf`, so those two always agree. prometheus_client's own scrapes are not atomic across
buckets and sum either.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client import metrics as client_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

INF = float("inf")


def created_series() -> bool:
    """Whether prometheus_client exports `_created` samples (it reads its switch on every scrape too)."""
    return bool(getattr(client_metrics, "_use_created", True))


class CounterChild:
    """One labelled counter: `value` and the time it was created."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self) -> None:
        self.value += 1.0


class HistogramChild:
    """One labelled histogram: a count per bucket (not cumulative), the sum and the time it was created."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds  # ascending, ending with +Inf
        self.counts = [0.0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        if amount == amount:  # NaN, as in prometheus_client: added to the sum, counted in no bucket
            self.counts[bisect_left(self.bounds, amount)] += 1.0


ChildT = TypeVar("ChildT", CounterChild, HistogramChild)


class _Family(Collector, Generic[ChildT]):
    """A family's label children, created on first use (like prometheus_client's `labels()`) and kept."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        if not self.labelnames:  # prometheus_client would export its one series at once; none is needed yet
            raise ValueError(f"{name}: a family needs label names")
        self.children: dict[tuple[str, ...], ChildT] = {}
        registry.register(self)  # after the fields: register() calls describe()

    def labels(self, *values: str) -> ChildT:
        """The child of these label values (in `labelnames` order), created at zero if new."""
        child = self.children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected, got {len(values)}")
            child = self.children[values] = self._new_child()
        return child

    def describe(self) -> Iterator[Metric]:
        yield self._empty()

    def _new_child(self) -> ChildT:
        raise NotImplementedError

    def _empty(self) -> Metric:
        raise NotImplementedError


class CounterFamily(_Family[CounterChild]):
    """What prometheus_client's `Counter(name, documentation, labelnames)` exports, from lock-free children."""

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def _empty(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._empty()
        created = created_series()
        for values, child in list(self.children.items()):
            family.add_metric(values, child.value, created=child.created if created else None)
        yield family


class HistogramFamily(_Family[HistogramChild]):
    """What prometheus_client's `Histogram(name, documentation, labelnames, buckets=...)` exports, from
    lock-free children. `buckets` are ascending upper bounds; `+Inf` is added if missing."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        *,
        buckets: Sequence[float],
    ) -> None:
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds) or not bounds:
            raise ValueError(f"{name}: buckets must be given in ascending order")
        if bounds[-1] != INF:
            bounds.append(INF)
        self.bounds = tuple(bounds)
        self.le = tuple(go_string(b) for b in bounds)
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def _empty(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._empty()
        created = created_series()
        for values, child in list(self.children.items()):
            counts, total = list(child.counts), child.sum
            cumulative, buckets = 0.0, []
            for le, count in zip(self.le, counts, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(values, buckets, total)  # the buckets, `_count`, `_sum`
            if created:
                labels = dict(zip(self.labelnames, values, strict=True))
                family.samples.append(Sample(f"{self.name}_created", labels, child.created))
        yield family


def go_string(bound: float) -> str:
    """A bucket's `le` label as prometheus_client writes it (`0.5`, `1.0`, `+Inf`, `1.44e+04`)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]  # untyped in prometheus_client
    return text
