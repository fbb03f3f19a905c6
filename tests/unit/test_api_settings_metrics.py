"""Settings from the environment (pydantic-settings) and the Prometheus text exposition
(prometheus_client)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from classifier.errors import InputError
from serving.http.metrics import CONTENT_TYPE, ApiMetrics
from serving.http.settings import Settings, is_loopback


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


def test_api_settings_explicit_values_never_read_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTECHECK_PORT", "9555")
    monkeypatch.setenv("NOTECHECK_API_KEYS", "from-env")
    assert Settings().port == 8000 and Settings(port=1).api_keys == frozenset()
    s = Settings.from_env()  # os.environ, through pydantic-settings
    assert s.port == 9555 and s.api_keys == frozenset({"from-env"})


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"NOTECHECK_ALLOW_NO_KEYS": "true"}, "allow_no_keys", True),
    ({"NOTECHECK_RELOAD_TIMEOUT_S": "1.5"}, "reload_timeout_s", 1.5),
    ({"NOTECHECK_UPLOAD_TIMEOUT_S": "30"}, "upload_timeout_s", 30.0),
    ({"NOTECHECK_FEEDBACK_MAX_BYTES": "2048"}, "feedback_max_bytes", 2048),
    ({"NOTECHECK_FEEDBACK_BACKUPS": "3"}, "feedback_backups", 3),
    ({"NOTECHECK_ADMIN_KEYS": "a,b"}, "admin_keys", frozenset({"a", "b"})),
    ({"NOTECHECK_MODEL": "  "}, "model", None),  # blank: the default
])
def test_api_settings_hardening_variables(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
    ("example.com", False), ("", False),
])
def test_api_settings_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_api_settings_exposed_without_keys() -> None:
    assert not Settings().exposed_without_keys
    assert Settings(host="0.0.0.0").exposed_without_keys
    assert not Settings(host="0.0.0.0", api_keys=frozenset({"k"})).exposed_without_keys
    assert not Settings(host="0.0.0.0", admin_keys=frozenset({"k"})).exposed_without_keys


def test_api_metrics_all_series_present() -> None:
    m = ApiMetrics(queue_depth=lambda: 3)
    m.observe_request("/v1/moderate", "POST", 200, 0.01)
    m.observe_request("/v1/moderate", "POST", 200, 0.5)
    m.observe_batch(8, 0.02)
    m.count_verdict("declared", "pass")
    m.count_reload("refused")
    text = m.render()
    assert "# TYPE notecheck_http_requests_total counter" in text
    assert metric(text, "notecheck_http_requests_total", route="/v1/moderate", method="POST",
                  status="200") == 2
    assert metric(text, "notecheck_http_request_duration_seconds_bucket", route="/v1/moderate",
                  le="0.01") == 1
    assert metric(text, "notecheck_http_request_duration_seconds_count",
                  route="/v1/moderate") == 2
    assert metric(text, "notecheck_batch_size_bucket", le="8.0") == 1
    assert metric(text, "notecheck_verdicts_total", label="declared", decision="pass") == 1
    assert metric(text, "notecheck_policy_reloads_total", outcome="refused") == 1
    assert metric(text, "notecheck_queue_depth") == 3 and metric(text, "notecheck_ready") == 0
    assert metric(text, "process_resident_memory_bytes")
    assert metric(text, "notecheck_info") is None  # no versions until the model is ready
    assert text.endswith("\n") and CONTENT_TYPE.startswith("text/plain")


def test_api_metrics_info_is_replaced_on_reload() -> None:
    m = ApiMetrics()
    m.set_versions("m1", "p1", "l1")
    m.set_versions("m1", "p2", "l1")
    m.set_ready(True)
    text = m.render()
    assert metric(text, "notecheck_info", policy_version="p2") == 1
    assert metric(text, "notecheck_info", policy_version="p1") is None
    assert metric(text, "notecheck_ready") == 1


def test_api_metrics_two_apps_do_not_share_series() -> None:
    a, b = ApiMetrics(), ApiMetrics()
    a.count_verdict("sharing", "pass")
    assert metric(b.render(), "notecheck_verdicts_total") is None


def metric(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


@pytest.mark.parametrize("env", [
    {"NOTECHECK_API_KEYS": "k-secret-1", "NOTECHECK_REVIEWER_KEYS": "k-secret-1=li,k-secret-2"},
    {"NOTECHECK_API_KEYS": "k-secret-1", "NOTECHECK_REVIEWER_KEYS": "k-secret-9=li"},
])
def test_api_settings_errors_never_echo_keys(env: dict[str, str]) -> None:
    with pytest.raises(InputError) as info:
        Settings.from_env(env)
    assert "k-secret-1" not in str(info.value) and "k-secret-9" not in str(info.value)
    assert "k-secret-2" not in str(info.value)


def test_store_url_errors_never_echo_the_password() -> None:
    from serving.store.engine import make_engine
    from serving.store.errors import InvalidArgument

    for url in ("postgresql+psycopg://u:k-secret-1@h:notaport/db", "k-secret-1://u:k-secret-1@h/db",
                "postgresql+asyncpg://u:k-secret-1@h/db"):
        with pytest.raises(InvalidArgument) as info:
            make_engine(url)
        assert "k-secret-1" not in str(info.value) and info.value.field == "db_url"
