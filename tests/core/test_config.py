"""Every setting the portal cannot run with stops it at start with one line, `Configuration error: ...`,
never a traceback and never a value quietly taken for another (a typo in SESSION_COOKIE_SECURE must not
turn secure cookies off)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import LIMITS, ConfigError, TestConfig
from webapp import create_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NUMBERS = [(name, kind) for names, kind, _, _ in LIMITS for name in names] + [
    ("UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT", int)]
SWITCHES = ["DATABASE_POOL", "MAIL_USE_TLS", "MAIL_USE_SSL", "SESSION_COOKIE_SECURE", "ADMIN_2FA_REQUIRED",
            "PROOF_MUST_BE_ACCEPTED"]


def read_from_environment(monkeypatch, name, text, kind):
    """The value config.py makes of `text` in the environment variable `name`."""
    monkeypatch.setenv(name, text)
    reader = {int: config._int, float: config._float, bool: config._bool}[kind]
    return reader(name, None) if kind is not bool else reader(name, True)


@pytest.mark.parametrize("name, kind", NUMBERS)
@pytest.mark.parametrize("text", ["abc", "12x", "1e400", "nan"])
def test_a_number_that_is_not_one_is_refused_by_name(monkeypatch, database_url, name, kind, text):
    value = read_from_environment(monkeypatch, name, text, kind)
    with pytest.raises(ConfigError, match=name):
        create_app(TestConfig, DATABASE_URL=database_url, **{name: value})


def test_an_empty_orphan_byte_limit_means_the_default(monkeypatch, database_url):
    value = read_from_environment(monkeypatch, "UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT", " ", int)
    app = create_app(TestConfig, DATABASE_URL=database_url, UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT=value)
    assert app.config["UPLOAD_ORPHAN_MAX_BYTES_PER_ACCOUNT"] == 5 * app.config["UPLOAD_MAX_BYTES"]


@pytest.mark.parametrize("name, kind, high", [(name, kind, high) for names, kind, _, high in LIMITS for name in names])
def test_a_number_out_of_range_is_refused_by_name(database_url, name, kind, high):
    # Below the lowest value; above the highest where there is one (a large count is a choice).
    for value in (-1, 0) if high is None else (-1, 0, high * 2):
        if value == 0 and name in ("UPLOAD_ORPHAN_MAX_PER_ACCOUNT", "PROXY_COUNT", "HSTS_MAX_AGE",
                                   "UPLOAD_ORPHAN_MAX_AGE_HOURS"):
            continue  # 0 is a meaning of its own there: keep none, no proxy, no HSTS, purge at once
        with pytest.raises(ConfigError, match=f"{name}=.* is out of range"):
            create_app(TestConfig, DATABASE_URL=database_url, **{name: kind(value)})


@pytest.mark.parametrize("name", SWITCHES)
def test_a_switch_must_say_true_or_false(monkeypatch, database_url, name):
    for text, meant in (("yes", True), ("On", True), ("1", True), ("false", False), ("off", False), ("0", False)):
        assert read_from_environment(monkeypatch, name, text, bool) is meant
    value = read_from_environment(monkeypatch, name, "flase", bool)
    with pytest.raises(ConfigError, match=f"{name}='flase' is not true or false"):
        create_app(TestConfig, DATABASE_URL=database_url, **{name: value})


@pytest.mark.parametrize("setting, message", [
    ({"BUSINESS_TIMEZONE": "Mars/Olympus_Mons"}, "BUSINESS_TIMEZONE='Mars/Olympus_Mons' is not a time zone"),
    ({"BUSINESS_TIMEZONE": "../../etc/passwd"}, "BUSINESS_TIMEZONE"),
    ({"PORTAL_URL": "licenses.example-hosting.example"}, "PORTAL_URL"),
    ({"PORTAL_URL": "javascript:alert(1)"}, "PORTAL_URL"),
    ({"DATABASE_URL": "mongodb://127.0.0.1/portal"}, "DATABASE_URL cannot be used"),
])
def test_other_unusable_settings_are_refused(database_url, setting, message):
    settings = {"DATABASE_URL": database_url, **setting}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        create_app(TestConfig, **settings)


def test_create_app_checks_with_the_config_class_it_was_given(database_url):
    class Strict(TestConfig):
        @classmethod
        def finalize(cls, settings):
            super().finalize(settings)
            raise ConfigError("checked by Strict")

    with pytest.raises(ConfigError, match="checked by Strict"):
        create_app(Strict, DATABASE_URL=database_url)


@pytest.mark.parametrize("variable, text", [("SESSION_LIFETIME_DAYS", "0"), ("MAIL_PORT", "twenty-five"),
                                             ("SESSION_COOKIE_SECURE", "ture")])
def test_flask_prints_one_line_for_a_bad_setting(tmp_path, variable, text):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")
           and k not in {"PORTAL_ENV", "DATABASE_URL", "TEST_DATABASE_URL"}}
    env.update(SECRET_KEY="k" * 32, DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}", **{variable: text})
    result = subprocess.run([sys.executable, "-m", "flask", "init-db"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"Configuration error: {variable}=")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "portal.sqlite3").exists()
