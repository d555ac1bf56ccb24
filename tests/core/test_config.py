"""Settings: environment over TOML over defaults; a bad value names the variable and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_settings


def test_defaults_put_sqlite_under_the_data_dir() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("var")
    assert settings.database_url == "sqlite+aiosqlite:///var/streetbrain.db"
    assert settings.plugins is None
    assert settings.timezone == "Asia/Shanghai"
    assert settings.is_sqlite


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STREETBRAIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STREETBRAIN_PLUGINS", " waste_sorting , video_net ")
    settings = load_settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'streetbrain.db'}"
    assert settings.plugins == ["waste_sorting", "video_net"]


def test_plain_driver_urls_get_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETBRAIN_DATABASE_URL", "postgresql://sb:pw@db.internal:5433/street")
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://sb:pw@db.internal:5433/street"
    assert settings.safe_database_url() == "postgresql+asyncpg://sb:***@db.internal:5433/street"
    assert not settings.is_sqlite


def test_none_disables_every_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETBRAIN_PLUGINS", "none")
    assert load_settings().plugins == []


def test_toml_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "office.toml"
    config.write_text(
        'timezone = "Asia/Urumqi"\nplugins = ["video_net"]\nlog_level = "DEBUG"\n'
        "[plugin_config.video_net]\nkeepalive_seconds = 30\n"
    )
    monkeypatch.setenv("STREETBRAIN_CONFIG_FILE", str(config))
    monkeypatch.setenv("STREETBRAIN_LOG_LEVEL", "WARNING")
    settings = load_settings()
    assert (settings.timezone, settings.plugins, settings.log_level) == ("Asia/Urumqi", ["video_net"], "WARNING")
    assert settings.plugin_config == {"video_net": {"keepalive_seconds": 30}}


def test_streetbrain_toml_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / "streetbrain.toml").write_text('data_dir = "/srv/streetbrain"\n')
    assert load_settings().data_dir == Path("/srv/streetbrain")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "STREETBRAIN_DATABASE_URL",
            "mysql://root@localhost/sb",
            "STREETBRAIN_DATABASE_URL: expected a sqlite or postgresql URL",
        ),
        ("STREETBRAIN_DATABASE_URL", "not a url", "STREETBRAIN_DATABASE_URL: expected a URL such as"),
        ("STREETBRAIN_TIMEZONE", "Mars/Olympus", "STREETBRAIN_TIMEZONE: expected an IANA time zone"),
        ("STREETBRAIN_SECRET_KEY", "short", "STREETBRAIN_SECRET_KEY: expected at least 32 characters"),
        ("STREETBRAIN_PLUGINS", "Video-Net", "STREETBRAIN_PLUGINS: expected lower-case plugin names"),
        ("STREETBRAIN_LOG_LEVEL", "LOUD", "STREETBRAIN_LOG_LEVEL: Input should be"),
        ("STREETBRAIN_TRACE_HOOKS", "maybe", "STREETBRAIN_TRACE_HOOKS: Input should be a valid boolean"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
    if variable == "STREETBRAIN_SECRET_KEY":
        assert value not in str(caught.value)


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETBRAIN_CONFIG_FILE", "/nowhere/streetbrain.toml")
    with pytest.raises(ConfigError, match=r"STREETBRAIN_CONFIG_FILE: file '/nowhere/streetbrain\.toml' does not exist"):
        load_settings()


def test_malformed_toml_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("timezone = \n")
    monkeypatch.setenv("STREETBRAIN_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings()


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = settings.secret_key_bytes()
    assert len(first) >= 32
    assert load_settings(data_dir=tmp_path).secret_key_bytes() == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    configured = load_settings(data_dir=tmp_path, secret_key="k" * 40)
    assert configured.secret_key_bytes() == b"k" * 40
