"""Prometheus metrics in the text exposition format (version 0.0.4), without a client library.

One :class:`ApiMetrics` per app (never module-level state). Counters, gauges and histograms are
thread-safe: the scoring thread observes batch sizes while the event loop counts requests.

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
    process_resident_memory_bytes                            gauge (Linux)
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence

__all__ = ["CONTENT_TYPE", "ApiMetrics", "Counter", "Gauge", "Histogram", "Registry"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: Sequence[str]) -> LabelValues:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(v) for v in labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A gauge set directly, or read from ``callback`` at scrape time (label-less)."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = (),
                 callback: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}
        self._callback = callback

    def set(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def replace(self, value: float, *labels: str) -> None:
        """Drop every other label set and keep this one (for info-style gauges)."""
        key = self._key(labels)
        with self._lock:
            self._values = {key: float(value)}

    def samples(self) -> list[str]:
        if self._callback is not None:
            return [f"{self.name} {_number(self._callback())}"]
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {_number(v)}" for k, v in items]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Iterable[float],
                 labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self._counts: dict[LabelValues, list[int]] = {}
        self._sums: dict[LabelValues, float] = {}

    def observe(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
                    break
            else:
                counts[-1] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, *labels: str) -> int:
        with self._lock:
            return sum(self._counts.get(self._key(labels), []))

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(c), self._sums[k]) for k, c in self._counts.items())
        out = []
        for key, counts, total in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = 'le="' + _number(bound) + '"'
                out.append(f"{self.name}_bucket{_labels(self.labelnames, key, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.labelnames, key)} {running}")
        return out


class Registry:
    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def add(self, metric: _Metric) -> None:
        self._metrics.append(metric)

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines += metric.header()
            lines += metric.samples()
        return "\n".join(lines) + "\n"


def _rss_bytes() -> float:
    """Resident set size of this process (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return float(pages * os.sysconf("SC_PAGE_SIZE"))


class ApiMetrics:
    """The API's metrics; ``queue_depth`` is read from a callback at scrape time."""

    def __init__(self, queue_depth: Callable[[], float] = lambda: 0.0) -> None:
        self.registry = Registry()
        self.requests = Counter("notecheck_http_requests_total", "HTTP requests by route, method "
                                "and status.", ("route", "method", "status"))
        self.latency = Histogram("notecheck_http_request_duration_seconds", "HTTP request latency "
                                 "by route.", LATENCY_BUCKETS, ("route",))
        self.batch_size = Histogram("notecheck_batch_size", "Notes per model call.", BATCH_BUCKETS)
        self.batch_seconds = Histogram("notecheck_batch_duration_seconds", "Seconds per model "
                                       "call.", LATENCY_BUCKETS)
        self.queue_depth = Gauge("notecheck_queue_depth", "Requests waiting for the model.",
                                 callback=queue_depth)
        self.verdicts = Counter("notecheck_verdicts_total", "Verdicts returned by label and "
                                "decision.", ("label", "decision"))
        self.reloads = Counter("notecheck_policy_reloads_total", "Policy reloads by outcome.",
                               ("outcome",))
        self.ready = Gauge("notecheck_ready", "1 when the model is loaded and warm.")
        self.info = Gauge("notecheck_info", "Versions in force.",
                          ("model_version", "policy_version", "lexicon_version"))
        self.rss = Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                         callback=_rss_bytes)
        for metric in (self.requests, self.latency, self.batch_size, self.batch_seconds,
                       self.queue_depth, self.verdicts, self.reloads, self.ready, self.info,
                       self.rss):
            self.registry.add(metric)
        self.ready.set(0)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.inc(route, method, str(status))
        self.latency.observe(seconds, route)

    def observe_batch(self, n_notes: int, seconds: float) -> None:
        self.batch_size.observe(n_notes)
        self.batch_seconds.observe(seconds)

    def render(self) -> str:
        return self.registry.render()
