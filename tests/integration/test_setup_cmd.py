"""`vodhook setup` against the VOD emulator: key rule, masking, GetMessageCallback round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner, Result

from receiver.sandbox.vod_emulator import VodEmulator
from receiver.setup_cmd import auth_key_problem, mask, normalize_events, setup
from tests.support import REPO

pytestmark = pytest.mark.integration

KEY = "Abc123SecretKey99"
RECEIVER_KEY = "Receiver2Key7abc"


@click.group()
@click.option("--config", default=None)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Stands in for `vodhook` (receiver.cli.main), which the integrator attaches setup to."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


cli.add_command(setup)


@pytest.fixture
def emu() -> Iterator[VodEmulator]:
    emulator = VodEmulator().start()
    yield emulator
    emulator.stop()


def env_for(emu: VodEmulator, auth_keys: str = RECEIVER_KEY) -> dict[str, str | None]:
    return {
        "VODHOOK_VOD_ENDPOINT": emu.endpoint,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": emu.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": emu.access_key_secret,
        "VODHOOK_AUTH_KEYS": auth_keys,
        "VODHOOK_CONFIG": None,  # unset: settings come from these variables only
    }


def run(emu: VodEmulator, *args: str, auth_keys: str = RECEIVER_KEY) -> Result:
    return CliRunner().invoke(cli, ["setup", *args], env=env_for(emu, auth_keys))


def all_output(result: Result) -> str:
    return result.stdout + result.stderr + str(result.exception or "")


# -- pure helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("Abc123", None),
        ("A" * 15 + "b" * 15 + "12", None),
        ("A" * 15 + "b" * 15 + "123", "longer than 32"),
        ("abc123", "upper-case"),
        ("ABC123", "lower-case"),
        ("AbcDef", "digit"),
        ("dsf346dvet", "upper-case"),  # the API reference's own example breaks its rule
    ],
)
def test_auth_key_rule(key: str, problem: str | None) -> None:
    found = auth_key_problem(key)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_mask_never_shows_a_whole_key() -> None:
    assert mask(KEY) == "Ab****99"
    assert mask("Abcd1234") == "A****4"
    assert mask("Ab1") == "****"
    assert mask(None) == "-"


def test_event_names_are_checked_and_ai_events_grouped() -> None:
    assert normalize_events("all") == ("ALL", [])
    names, notes = normalize_events("fileuploadcomplete, AIMediaAuditComplete,AIVideoTagComplete")
    assert names == "FileUploadComplete,AIComplete" and len(notes) == 2
    with pytest.raises(click.BadParameter, match="FileUploadCompleted"):
        normalize_events("FileUploadCompleted")


# -- against the emulator --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["alllowercase1", "ALLUPPER1", "NoDigitsHere", "Ab1" * 11])
def test_bad_auth_key_is_refused_before_any_call(emu: VodEmulator, bad: str) -> None:
    result = run(emu, "http", "--url", "https://hooks.example.com/cb", "--auth-key", bad)
    assert result.exit_code == 2, all_output(result)
    assert "upper-case and lower-case letters and digits" in result.stderr
    assert bad not in all_output(result)
    assert emu.request_log == []


def test_http_round_trip_masks_the_key(emu: VodEmulator) -> None:
    result = run(
        emu, "http", "--url", "https://hooks.example.com/cb", "--auth-key", KEY,
        "--events", "FileUploadComplete,aimediaauditcomplete,TranscodeComplete",
        "--app-id", "app-1000000",
    )
    assert result.exit_code == 0, all_output(result)
    config = emu.callback_config()
    assert config is not None
    assert (config.callback_type, config.callback_url) == ("HTTP", "https://hooks.example.com/cb")
    assert (config.auth_key, config.auth_switch) == (KEY, "on")
    assert config.event_type_list == "FileUploadComplete,AIComplete,TranscodeComplete"
    assert "Ab****99" in result.stdout and KEY not in all_output(result)
    assert "AIComplete" in result.stderr  # the AI name was rewritten, and said so
    assert "not in VODHOOK_AUTH_KEYS" in result.stderr
    assert [r.action for r in emu.request_log] == ["SetMessageCallback", "GetMessageCallback"]

    shown = run(emu, "show")
    assert shown.exit_code == 0 and "https://hooks.example.com/cb" in shown.stdout
    assert "Ab****99" in shown.stdout and KEY not in all_output(shown)
    assert "would reject" in shown.stderr
    as_json = json.loads(run(emu, "show", "--json").stdout)
    assert as_json["auth_key"] == "Ab****99" and as_json["event_type_list"].endswith("Complete")


def test_http_defaults_to_the_receivers_own_key(emu: VodEmulator) -> None:
    result = run(emu, "http", "--url", "http://127.0.0.1:8000/callback")
    assert result.exit_code == 0, all_output(result)
    config = emu.callback_config()
    assert config is not None and config.auth_key == RECEIVER_KEY
    assert config.event_type_list == "ALL" and result.stderr == ""
    assert RECEIVER_KEY not in all_output(result)
    assert run(emu, "show").stderr == ""  # VOD signs with a key the receiver accepts


def test_http_without_any_key_needs_no_auth(emu: VodEmulator) -> None:
    refused = run(emu, "http", "--url", "https://h.example.com/cb", auth_keys="")
    assert refused.exit_code == 2 and "--no-auth" in refused.stderr
    result = run(emu, "http", "--url", "https://h.example.com/cb", "--no-auth", auth_keys="")
    assert result.exit_code == 0, all_output(result)
    config = emu.callback_config()
    assert config is not None and (config.auth_switch, config.auth_key) == ("off", None)
    assert "unsigned" in result.stderr


def test_bad_url_and_events_send_nothing(emu: VodEmulator) -> None:
    too_long = "https://h.example.com/" + "x" * 250
    for args in (
        ("http", "--url", too_long, "--auth-key", KEY),
        ("http", "--url", "hooks.example.com/cb", "--auth-key", KEY),
        ("http", "--url", "https://h.example.com/cb", "--auth-key", KEY, "--events", "Nope"),
        ("mns", "--endpoint", "https://1.mns.example.com/"),
    ):
        result = run(emu, *args)
        assert result.exit_code == 2, (args, all_output(result))
    assert emu.request_log == []


def test_mns_round_trip_and_off(emu: VodEmulator) -> None:
    endpoint = "https://1234567890.mns.cn-shanghai.aliyuncs.com/"
    result = run(emu, "mns", "--endpoint", endpoint, "--queue", "vod-events",
                 "--events", "FileUploadComplete", "--app-id", "app-2")
    assert result.exit_code == 0, all_output(result)
    config = emu.callback_config("app-2")
    assert config is not None and config.callback_type == "MNS"
    assert (config.mns_endpoint, config.mns_queue_name) == (endpoint, "vod-events")
    shown = run(emu, "show", "--app-id", "app-2", "--json")
    assert json.loads(shown.stdout)["mns_queue_name"] == "vod-events"
    off = run(emu, "off", "--app-id", "app-2")
    assert off.exit_code == 0 and emu.callback_config("app-2") is None
    assert "no event notification" in run(emu, "show", "--app-id", "app-2").stdout


def test_vod_errors_surface_with_their_code(emu: VodEmulator) -> None:
    emu.faults.add(action="SetMessageCallback", kind="server_error", status=503)
    result = run(emu, "http", "--url", "https://h.example.com/cb", "--auth-key", KEY)
    assert result.exit_code == 1
    assert "ServiceUnAvailable" in result.stderr and KEY not in all_output(result)
    assert emu.access_key_secret not in all_output(result)


def test_setup_runs_as_a_real_process(emu: VodEmulator) -> None:
    env = {k: v for k, v in {**os.environ, **env_for(emu)}.items() if v is not None}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "receiver.setup_cmd", "http", "--url",
         "https://hooks.example.com/cb", "--auth-key", KEY],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Ab****99" in done.stdout and KEY not in done.stdout + done.stderr
    config = emu.callback_config()
    assert config is not None and config.auth_key == KEY
