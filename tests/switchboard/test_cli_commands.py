"""The switchboard command: version, config show, db upgrade, one-line errors, no secret in any help."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard import __version__, cli
from switchboard.errors import PortInUseError, listening
from switchboard.settings import load_settings

SWITCHBOARD_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "switchboard"
SECRET = "ami-Secr3t-value"


@pytest.fixture(scope="module", autouse=True)
def installed_command() -> None:
    if not SWITCHBOARD_BIN.is_file():
        pytest.fail(f"{SWITCHBOARD_BIN} is missing: run `make test` (it installs the project into .venv)")


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("SWITCHBOARD_")}
    return subprocess.run(
        [str(SWITCHBOARD_BIN), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
        cwd=cwd,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("switchboard: error: ")
    assert expected in lines[0]


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"switchboard {__version__}"


def test_config_show_lists_every_setting_with_secrets_masked(tmp_path: Path) -> None:
    result = run(
        "config",
        "show",
        env={"SWITCHBOARD_AMI_SECRET": SECRET, "SWITCHBOARD_DATABASE_URL": "postgresql://sb:db-Pw-1@db/sb"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout
    assert "db-Pw-1" not in result.stdout
    assert "SWITCHBOARD_AMI_SECRET=********" in result.stdout
    assert "SWITCHBOARD_DATABASE_URL=postgresql://sb:********@db/sb" in result.stdout
    assert "SWITCHBOARD_AGI_PORT=4573" in result.stdout
    assert "# FastAGI listen port" in result.stdout
    for section in ("general", "database", "redis", "ami", "agi", "http", "ivr", "speech", "acd"):
        assert f"[{section}]" in result.stdout


def test_config_show_reads_the_config_file_option(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("http:\n  port: 8088\nami:\n  secret: from-file-secret\n")
    result = run("--config", str(config), "config", "show", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"value": "8088"' in result.stdout
    assert "from-file-secret" not in result.stdout
    # the option also works after the subcommand
    assert run("config", "show", "--config", str(config), cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SWITCHBOARD_AGI_PORT": "not-a-port"}, "bad config value agi.port (SWITCHBOARD_AGI_PORT)"),
        ({"SWITCHBOARD_HTTP_PORTT": "8000"}, "did you mean SWITCHBOARD_HTTP_PORT?"),
        ({"SWITCHBOARD_CONFIG": "/nonexistent/switchboard.yaml"}, "does not exist"),
    ],
)
def test_bad_config_is_one_line_exit_2_without_traceback(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    assert_one_line_error(run("db", "upgrade", env=env, cwd=tmp_path), expected)


def test_db_upgrade_creates_the_sqlite_database_under_var(tmp_path: Path) -> None:
    result = run("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "switchboard.db").is_file()
    assert "database sqlite+aiosqlite:///var/switchboard.db is at" in result.stdout
    current = run("db", "current", cwd=tmp_path)
    assert current.returncode == 0
    assert "up to date" in current.stdout


def test_db_upgrade_against_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://sb:pg-Secret-9@127.0.0.1:{port}/sb"
    result = run("db", "upgrade", env={"SWITCHBOARD_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_error(result, f"cannot use the database postgresql://sb:********@127.0.0.1:{port}/sb")
    assert "pg-Secret-9" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "args",
    [("--help",), ("serve", "--help"), ("demo", "--help"), ("db", "upgrade", "--help"), ("config", "--help")],
)
def test_help_never_shows_a_secret(tmp_path: Path, args: tuple[str, ...]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("ami:\n  secret: file-Secret-2\n")
    result = run(
        *args,
        env={"SWITCHBOARD_AMI_SECRET": SECRET, "SWITCHBOARD_CONFIG": str(config)},
        cwd=tmp_path,
    )
    assert result.returncode == 0
    assert "usage: switchboard" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert "file-Secret-2" not in result.stdout + result.stderr


def test_demo_rejects_a_bad_speed_with_a_usage_line(tmp_path: Path) -> None:
    result = run("demo", "--speed", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "--speed: '0' must be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr


# --- serve/demo hand-off, exercised in-process with a stand-in for the lead's switchboard.app -----------


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """In-process cli.main() installs its log handler on the root logger: put the test runner's back."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def app_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = types.ModuleType("switchboard.app")
    monkeypatch.setitem(sys.modules, "switchboard.app", module)
    yield module


def test_demo_options_reach_run_demo(app_module: types.ModuleType) -> None:
    seen: dict[str, object] = {}

    async def run_demo(settings, **kwargs) -> int:
        seen.update(kwargs, settings=settings)
        return 0

    app_module.run_demo = run_demo
    assert cli.main(["demo", "--duration", "30", "--speed", "10", "--calls", "25"]) == 0
    assert (seen["duration"], seen["speed"], seen["calls"]) == (30.0, 10.0, 25)
    assert seen["settings"].agi.port == 4573


def test_ctrl_c_exits_130_without_traceback(
    app_module: types.ModuleType, capsys: pytest.CaptureFixture
) -> None:
    def run_serve(settings) -> None:
        raise KeyboardInterrupt

    app_module.run_serve = run_serve
    assert cli.main(["serve"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_port_in_use_inside_a_task_group_is_one_line(
    app_module: types.ModuleType, capsys: pytest.CaptureFixture
) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]

    async def bind_agi() -> None:
        with listening(service="FastAGI", host="127.0.0.1", port=port, setting="agi"), socket.socket() as s:
            s.bind(("127.0.0.1", port))

    async def run_serve(settings) -> None:
        import asyncio

        async with asyncio.TaskGroup() as tg:
            tg.create_task(bind_agi())

    app_module.run_serve = run_serve
    try:
        assert cli.main(["serve"]) == 2
    finally:
        holder.close()
    err = capsys.readouterr().err.strip()
    assert err == (
        f"switchboard: error: port 127.0.0.1:{port} is already in use (FastAGI); "
        "stop the other program or set SWITCHBOARD_AGI_PORT"
    )


def test_untranslated_bind_error_still_names_the_service_and_variable() -> None:
    settings = load_settings()
    exc = OSError(
        errno.EADDRINUSE, "error while attempting to bind on address ('127.0.0.1', 8000): address in use"
    )
    assert cli.user_facing(exc, settings) == (
        "port 127.0.0.1:8000 is already in use (HTTP); stop the other program or set SWITCHBOARD_HTTP_PORT"
    )


def test_ami_errors_become_one_line_with_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    errors = types.ModuleType("ami.errors")

    class AmiConnectionError(Exception):
        pass

    class AmiAuthError(Exception):
        pass

    errors.AmiConnectionError, errors.AmiAuthError = AmiConnectionError, AmiAuthError
    monkeypatch.setitem(sys.modules, "ami.errors", errors)
    settings = load_settings(ami={"secret": SECRET})
    refused = cli.user_facing(AmiAuthError(f"Authentication failed for {SECRET}"), settings)
    assert refused is not None and "refused the AMI login for user 'switchboard'" in refused
    assert SECRET not in refused
    missing = cli.user_facing(AmiConnectionError("connection refused"), settings)
    assert missing is not None
    assert missing.startswith("cannot reach Asterisk's manager interface at 127.0.0.1:5038")


def test_a_real_bug_is_not_disguised(app_module: types.ModuleType) -> None:
    def run_serve(settings) -> None:
        raise ZeroDivisionError("bug")

    app_module.run_serve = run_serve
    with pytest.raises(ZeroDivisionError):
        cli.main(["serve"])


def test_port_in_use_error_type() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with (
            pytest.raises(PortInUseError),
            listening(service="HTTP", host="127.0.0.1", port=port, setting="http"),
            socket.socket() as s,
        ):
            s.bind(("127.0.0.1", port))


def test_sigterm_stops_serve_gracefully_with_exit_0(tmp_path: Path) -> None:
    script = tmp_path / "serve_forever.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, sys, types
            from switchboard import cli

            async def run_serve(settings):
                try:
                    print("ready", flush=True)
                    await asyncio.sleep(60)
                finally:
                    print("cleaned up", flush=True)

            app = types.ModuleType("switchboard.app")
            app.run_serve = run_serve
            sys.modules["switchboard.app"] = app
            sys.exit(cli.main(["serve"]))
            """
        )
    )
    python = SWITCHBOARD_BIN.parent / "python"
    proc = subprocess.Popen(
        [str(python), str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "cleaned up" in out
    assert "Traceback" not in err
