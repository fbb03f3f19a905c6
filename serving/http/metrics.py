"""Prometheus metrics of the API, exposed in the text format by ``prometheus_client``.

One :class:`ApiMetrics` per app, each with its own ``CollectorRegistry`` (never the library's
global one, so two apps in one process, as in tests, never share series). ``prometheus_client``
metrics are thread-safe: the scoring thread observes batch sizes while the event loop counts
requests.

Exposed series::

    notecheck_http_requests_total{route,method,status}      counter
    notecheck_http_request_duration_seconds{route}          histogram
    notecheck_batch_size                                     histogram (notes per model call)
    notecheck_batch_duration_seconds                         histogram (seconds per model call)
    notecheck_queue_depth                                    gauge (requests waiting)
    notecheck_verdicts_total{label,decision}                 counter
    notecheck_policy_reloads_total{outcome}                  counter
    notecheck_ready                                          gauge (1 when the model is warm)
    notecheck_info{model_version,policy_version,lexicon_version}  gauge = 1
    process_*                                                the library's process collector
                                                             (resident memory, CPU, open fds)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "ApiMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _Versions(Collector):
    """``notecheck_info``: one series, the versions in force, replaced as a whole on reload (a
    scrape never sees two label sets, or none)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: tuple[str, str, str] | None = None

    def set(self, model_version: str, policy_version: str, lexicon_version: str) -> None:
        with self._lock:
            self._versions = (model_version, policy_version, lexicon_version)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("notecheck_info", "Versions in force.",
                                   labels=("model_version", "policy_version", "lexicon_version"))
        with self._lock:
            versions = self._versions
        if versions is not None:
            family.add_metric(list(versions), 1.0)
        yield family


class ApiMetrics:
    """The API's metrics; ``queue_depth`` is read from a callback at scrape time."""

    def __init__(self, queue_depth: Callable[[], float] = lambda: 0.0) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("notecheck_http_requests", "HTTP requests by route, method and "
                                "status.", ("route", "method", "status"), registry=r)
        self.latency = Histogram("notecheck_http_request_duration_seconds", "HTTP request "
                                 "latency by route.", ("route",), buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.batch_size = Histogram("notecheck_batch_size", "Notes per model call.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("notecheck_batch_duration_seconds", "Seconds per model "
                                       "call.", buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("notecheck_queue_depth", "Requests waiting for the model.",
                                 registry=r)
        self.queue_depth.set_function(queue_depth)
        self.verdicts = Counter("notecheck_verdicts", "Verdicts returned by label and decision.",
                                ("label", "decision"), registry=r)
        self.reloads = Counter("notecheck_policy_reloads", "Policy reloads by outcome.",
                               ("outcome",), registry=r)
        self.ready = Gauge("notecheck_ready", "1 when the model is loaded and warm.", registry=r)
        self.info = _Versions()
        r.register(self.info)
        ProcessCollector(registry=r)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, n_notes: int, seconds: float) -> None:
        self.batch_size.observe(n_notes)
        self.batch_seconds.observe(seconds)

    def count_verdict(self, label: str, decision: str) -> None:
        self.verdicts.labels(label, decision).inc()

    def count_reload(self, outcome: str) -> None:
        self.reloads.labels(outcome).inc()

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    def set_versions(self, model_version: str, policy_version: str,
                     lexicon_version: str) -> None:
        self.info.set(model_version, policy_version, lexicon_version)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
