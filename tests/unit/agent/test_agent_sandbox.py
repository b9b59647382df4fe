"""Sandboxed file reads: the bundled project is readable, nothing outside it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qi_load.agent.sandbox import (
    SANDBOX_DIR,
    SandboxError,
    find_path,
    read_sandbox_file,
    resolve_in_sandbox,
    summarize,
)


def test_bundled_package_json_has_the_documented_facts() -> None:
    data = json.loads(read_sandbox_file("package.json"))
    assert (data["name"], data["version"], len(data["dependencies"])) == (
        "qi-sample-app",
        "1.4.2",
        7,
    )
    summary = summarize("package.json", read_sandbox_file("package.json"))
    assert "qi-sample-app" in summary and "1.4.2" in summary and "7 dependencies" in summary


@pytest.mark.parametrize(
    "path",
    ["../pyproject.toml", "../../etc/passwd", "/etc/passwd", "src/../../x", "~/x", "a\x00b"],
)
def test_paths_outside_are_refused(path: str) -> None:
    with pytest.raises(SandboxError):
        read_sandbox_file(path)


def test_a_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "sandbox"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "link.txt").symlink_to(secret)
    with pytest.raises(SandboxError, match="outside"):
        resolve_in_sandbox("link.txt", root)


def test_missing_files_are_reported() -> None:
    with pytest.raises(SandboxError, match="does not exist"):
        read_sandbox_file("nope.txt")


def test_nested_files_resolve_inside() -> None:
    assert resolve_in_sandbox("src/routes/tasks.js") == SANDBOX_DIR / "src" / "routes" / "tasks.js"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("Read and analyze the package.json file", "package.json"),
        ("what is in src/index.js?", "src/index.js"),
        ("cat ../../etc/passwd", "../../etc/passwd"),
        ("show /etc/shadow.", "/etc/shadow"),
        ("hello there", None),
    ],
)
def test_find_path(text: str, path: str | None) -> None:
    assert find_path(text) == path


def test_absurd_paths_are_refused_not_raised() -> None:
    with pytest.raises(SandboxError, match="longer than"):
        read_sandbox_file("a/" * 5000 + "b.txt")
    with pytest.raises(SandboxError, match="cannot be read"):
        read_sandbox_file("x" * 300 + ".txt")
