"""Settings from the environment and the Prometheus text exposition."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from classifier.errors import InputError
from serving.metrics import ApiMetrics, Counter, Histogram, Registry
from serving.settings import Settings


def test_api_settings_defaults() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.max_text_chars, s.max_batch_size) == ("127.0.0.1", 8000, 20_000, 32)
    assert s.api_keys == frozenset() and not s.auth_enabled
    assert s.model is None


def test_api_settings_read_env_and_overrides() -> None:
    env = {"NOTECHECK_PORT": "9001", "NOTECHECK_API_KEYS": " k1, k2 ,,", "NOTECHECK_MODEL": "/m",
           "NOTECHECK_LOG_NOTE_TEXT": "true", "NOTECHECK_MAX_WAIT_MS": "0", "UNRELATED": "x"}
    s = Settings.from_env(env, port=9100, host=None)
    assert s.port == 9100  # the option wins over the variable
    assert s.api_keys == frozenset({"k1", "k2"}) and s.auth_enabled
    assert s.model == Path("/m") and s.log_note_text is True and s.max_wait_ms == 0.0


@pytest.mark.parametrize(("env", "field"), [
    ({"NOTECHECK_PORT": "eighty"}, "port"),
    ({"NOTECHECK_MAX_QUEUE": "0"}, "max_queue"),
    ({"NOTECHECK_REQUEST_TIMEOUT_S": "-1"}, "request_timeout_s"),
])
def test_api_settings_invalid_variable_is_named(env: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as info:
        Settings.from_env(env)
    assert info.value.field == field
    assert "NOTECHECK_" + field.upper() in str(info.value)


def test_api_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.port = 1  # type: ignore[misc]


def test_api_metrics_counter_and_histogram_exposition() -> None:
    reg = Registry()
    c = Counter("x_total", "Things.", ("route", "status"))
    h = Histogram("lat_seconds", "Latency.", (0.1, 1.0), ("route",))
    reg.add(c)
    reg.add(h)
    c.inc("/a", "200")
    c.inc("/a", "200")
    c.inc('/b"q', "500")
    h.observe(0.05, "/a")
    h.observe(0.5, "/a")
    h.observe(5.0, "/a")
    text = reg.render()
    assert "# TYPE x_total counter" in text
    assert 'x_total{route="/a",status="200"} 2' in text
    assert 'x_total{route="/b\\"q",status="500"} 1' in text
    assert 'lat_seconds_bucket{route="/a",le="0.1"} 1' in text
    assert 'lat_seconds_bucket{route="/a",le="1"} 2' in text
    assert 'lat_seconds_bucket{route="/a",le="+Inf"} 3' in text
    assert 'lat_seconds_count{route="/a"} 3' in text
    assert 'lat_seconds_sum{route="/a"} 5.55' in text
    assert text.endswith("\n")


def test_api_metrics_wrong_label_count_is_refused() -> None:
    c = Counter("x_total", "Things.", ("route",))
    with pytest.raises(ValueError, match="expected labels"):
        c.inc("/a", "extra")


def test_api_metrics_all_series_present() -> None:
    m = ApiMetrics(queue_depth=lambda: 3)
    m.observe_request("/v1/moderate", "POST", 200, 0.01)
    m.observe_batch(8, 0.02)
    m.verdicts.inc("declared", "pass")
    text = m.render()
    for name in ("notecheck_http_requests_total", "notecheck_http_request_duration_seconds_bucket",
                 "notecheck_batch_size_bucket", "notecheck_verdicts_total", "notecheck_ready 0",
                 "notecheck_queue_depth 3", "process_resident_memory_bytes"):
        assert name in text
