"""The README stays true: every setting is documented, and the two commands are there."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from receiver.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
CI = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"VODHOOK_{field.upper()}"


def test_every_setting_is_in_the_settings_table() -> None:
    missing = [
        env_name(name)
        for name in Settings.model_fields
        if name != "chains" and f"| `{env_name(name)}` |" not in README
    ]
    assert missing == []
    assert "| `chains` (TOML only) |" in README


def test_ci_runs_the_readme_test_command() -> None:
    install, run = "python3 -m pip install -e '.[test]'", "python3 -m pytest"
    assert f"{install} && {run}" in README
    assert install in CI and run in CI


def test_no_placeholders_left() -> None:
    for marker in ("HANDLERS_SECTION", "BENCH_SECTION", "RELIABILITY_SECTION", "TODO"):
        assert marker not in README
