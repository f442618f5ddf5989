"""Settings: env and TOML sources, precedence, list parsing, secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.settings import Settings, load_settings


def test_defaults_are_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VODHOOK_CONFIG", "VODHOOK_AUTH_KEYS", "VODHOOK_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert (s.host, s.port, s.callback_path) == ("127.0.0.1", 8000, "/callback")
    assert s.database_url == "sqlite:///vodhook.db"
    assert s.auth_window == 300 and s.max_body_bytes == 65536
    assert s.sqlite_synchronous == "FULL"


def test_env_lists_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VODHOOK_AUTH_KEYS", "OldKey123abc, NewKey456def")
    monkeypatch.setenv("VODHOOK_CALLBACK_URLS", "https://a.example/cb,https://b.example/cb")
    s = Settings()
    assert [k.get_secret_value() for k in s.auth_keys] == ["OldKey123abc", "NewKey456def"]
    assert s.callback_urls == ["https://a.example/cb", "https://b.example/cb"]
    assert "OldKey123abc" not in repr(s) and "OldKey123abc" not in str(s.model_dump())


def test_toml_file_with_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vodhook.toml"
    config.write_text(
        "workers = 3\nauth_window = 60\n[vod_qps]\nGetPlayInfo = 10\n"
        '[[chains]]\non = ["TranscodeComplete"]\nstatus = "success"\n'
        'run = ["play_info", { handler = "forward", url = "http://x" }]\n'
    )
    monkeypatch.setenv("VODHOOK_WORKERS", "5")
    s = load_settings(config)
    assert s.workers == 5  # env beats the file
    assert s.auth_window == 60 and s.vod_qps == {"GetPlayInfo": 10.0}
    assert s.chains[0].run[1] == {"handler": "forward", "url": "http://x"}


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")
