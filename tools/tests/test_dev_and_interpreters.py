"""tools/interpreters.py (missing Pythons are skipped), tools/dev.py's totals and the
wheelhouse's empty-test-directory rule."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from tools import dev, interpreters, wheelhouse


def fake_python(path: Path, version: str, *, works: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = f"echo {version}" if works else "echo 'pyenv: command not found' >&2; exit 127"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.mark.skipif(os.name == "nt", reason="fake interpreters are shell scripts")
def test_the_newest_working_pyenv_build_wins(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    fake_python(versions / "3.12.1" / "bin" / "python3.12", "3.12")
    newest = fake_python(versions / "3.12.10" / "bin" / "python3.12", "3.12")
    fake_python(versions / "3.12.11" / "bin" / "python3.12", "3.12", works=False)
    fake_python(versions / "3.12-dev" / "bin" / "python3.12", "3.12")
    assert interpreters.find_interpreter("3.12", [tmp_path], path="") == newest


@pytest.mark.skipif(os.name == "nt", reason="fake interpreters are shell scripts")
def test_a_missing_or_broken_interpreter_is_none(tmp_path: Path) -> None:
    (tmp_path / "versions").mkdir()
    shims = tmp_path / "shims"
    fake_python(shims / "python3.13", "3.13", works=False)  # a pyenv shim, inactive
    fake_python(shims / "python3.14", "3.11")  # lies about its version
    assert interpreters.find_interpreter("3.13", [tmp_path], path=str(shims)) is None
    assert interpreters.find_interpreter("3.14", [tmp_path], path=str(shims)) is None


def test_path_is_the_fallback(tmp_path: Path) -> None:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / f"python{version}").symlink_to(sys.executable)
    assert (
        interpreters.find_interpreter(version, [], path=str(bindir)) == bindir / f"python{version}"
    )


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="{e}" failures="{f}" skipped="{s}" tests="{t}"/>
</testsuites>"""


def test_dev_totals_sum_the_junit_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dev, "REPORTS", tmp_path)
    (tmp_path / "tests-3.11--core.xml").write_text(JUNIT.format(e=1, f=2, s=3, t=10))
    (tmp_path / "tests-3.11--dns.xml").write_text(JUNIT.format(e=0, f=0, s=0, t=5))
    (tmp_path / "layers--tools.xml").write_text(JUNIT.format(e=0, f=0, s=1, t=7))
    (tmp_path / "broken--x.xml").write_text("<not xml")
    assert sorted(dev._totals()) == [("layers", 6, 0, 1), ("tests-3.11", 9, 3, 3)]


def test_dev_reads_tool_pins_from_the_constraints_file() -> None:
    nox_pin, uv_pin = dev._pinned("nox", "uv")
    assert nox_pin.startswith("nox==") and uv_pin.startswith("uv==")


def test_only_an_empty_test_directory_counts_as_nothing_to_run(tmp_path: Path) -> None:
    assert not wheelhouse.has_test_files(tmp_path / "missing")
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "helpers.py").write_text("")
    assert not wheelhouse.has_test_files(tmp_path)
    assert wheelhouse.run_tests(tmp_path, []) == 0
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "test_x.py").write_text("X = 1\n")  # test files that collect nothing
    assert wheelhouse.has_test_files(tmp_path)
    assert wheelhouse.run_tests(tmp_path, ["-q"]) == 5


def test_a_crashed_run_counts_as_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dev, "REPORTS", tmp_path)
    wheelhouse.write_crash_report(tmp_path / "tests-3.12--testing.xml", 'tests-3.12 "x" <&>')
    (tmp_path / "tests-3.12--core.xml").write_text(JUNIT.format(e=0, f=0, s=0, t=4))
    assert dev._totals() == [("tests-3.12", 4, 1, 0)]


def _default_sessions() -> list[str]:
    """``nox.options.sessions`` as written in noxfile.py (nox is not installed here)."""
    tree = ast.parse((dev.ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Attribute)
            and ast.unparse(node.targets[0]) == "nox.options.sessions"
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return value
    raise AssertionError("noxfile.py does not set nox.options.sessions")


def test_the_test_streams_run_every_default_session_once() -> None:
    in_streams = [name for stream in dev.TEST_STREAMS for name in stream]
    assert sorted(in_streams) == sorted(_default_sessions())
    assert len(in_streams) == len(set(in_streams))


@pytest.mark.skipif(os.name == "nt", reason="the fake streams are shell commands")
def test_streams_run_at_once_and_the_worst_status_wins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Each fake stream waits for the other's file, so they finish only if run at once.
    scripts = {
        "first": f"touch {tmp_path}/first; while [ ! -e {tmp_path}/second ]; do sleep 0.01; done; "
        "echo one; exit 0",
        "second": f"touch {tmp_path}/second; while [ ! -e {tmp_path}/first ]; do sleep 0.01; done; "
        "echo two; exit 3",
    }
    monkeypatch.setattr(dev, "_nox_command", lambda python, args: ["sh", "-c", scripts[args[1]]])
    code = dev._run_streams(Path(sys.executable), (("first", "x"), ("second",)))
    out = capsys.readouterr().out
    assert code == 3
    assert "[first] one" in out and "[second] two" in out
