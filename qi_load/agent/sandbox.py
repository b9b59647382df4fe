"""Sandboxed file reads of the bundled sample project; paths outside it are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final

__all__ = [
    "SANDBOX_DIR",
    "SandboxError",
    "find_path",
    "read_sandbox_file",
    "resolve_in_sandbox",
    "summarize",
]

SANDBOX_DIR: Final = Path(__file__).resolve().parent / "sandbox"
_MAX_BYTES: Final = 256 * 1024
_MAX_PATH: Final = 1024
_EXTENSIONS: Final = "json|md|js|ts|py|txt|toml|yaml|yml|cfg|ini|lock|env|html|css|sh|log"
# A path with a slash (relative, ../ or absolute), or a bare file name with a known extension.
# Linear time on any text: a match may start only where a run of name characters starts
# (the look-behind), so a long run is scanned once, not once per character, and the
# possessive name parts never backtrack ('/' is not a name character).
_PATH: Final = re.compile(
    r"(?<![\w.-])(?:"
    r"(?:~|\.{1,2})?/(?:[\w.-]++/)*[\w.-]++"
    r"|(?:[\w.-]++/)+[\w.-]++"
    rf"|[\w-][\w.-]*\.(?:{_EXTENSIONS})\b"
    r")"
)


class SandboxError(ValueError):
    """A path the sandbox refuses (outside it, missing, not a file, too large)."""


def find_path(text: str) -> str | None:
    """The first file path mentioned in a request, or None."""
    match = _PATH.search(text)
    return match.group().rstrip(".,;:") if match else None


def resolve_in_sandbox(path: str, root: Path = SANDBOX_DIR) -> Path:
    """The real path of `path` inside `root`; SandboxError if it escapes (.., /abs, symlinks)."""
    if "\x00" in path:
        raise SandboxError("path contains a NUL byte")
    if len(path) > _MAX_PATH:
        raise SandboxError(f"path longer than {_MAX_PATH} characters")
    base = root.resolve()
    candidate = Path(path)
    if candidate.is_absolute() or path.startswith("~"):
        raise SandboxError(f"{path} is outside the sandbox")
    resolved = (base / candidate).resolve()
    if not resolved.is_relative_to(base):
        raise SandboxError(f"{path} is outside the sandbox")
    return resolved


def read_sandbox_file(path: str, root: Path = SANDBOX_DIR) -> str:
    """Text of a sandbox file; SandboxError with a one-line reason otherwise."""
    resolved = resolve_in_sandbox(path, root)
    try:
        if not resolved.is_file():
            raise SandboxError(f"{path} does not exist in the sandbox")
        if resolved.stat().st_size > _MAX_BYTES:
            raise SandboxError(f"{path} is larger than {_MAX_BYTES} bytes")
        return resolved.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:  # a name too long, out of descriptors: a refusal, not a crash
        raise SandboxError(f"{path} cannot be read: {exc.strerror}") from None


def _summarize_package(text: str) -> str:
    data = json.loads(text)
    dependencies = data.get("dependencies") or {}
    dev = data.get("devDependencies") or {}
    names = ", ".join(sorted(dependencies))
    scripts = ", ".join(sorted(data.get("scripts") or {}))
    return (
        f"The package is **{data.get('name', '?')}**, version **{data.get('version', '?')}**. "
        f"It declares {len(dependencies)} dependencies ({names}) and {len(dev)} dev "
        f"dependencies. Scripts: {scripts or 'none'}. Entry point: {data.get('main', 'n/a')}."
    )


def summarize(path: str, text: str) -> str:
    """A short factual summary: package facts for package.json, the shape of other files."""
    if Path(path).name == "package.json":
        try:
            return _summarize_package(text)
        except (ValueError, AttributeError):
            pass
    lines = text.splitlines()
    heading = next((line.strip("# ").strip() for line in lines if line.strip()), "")
    return (
        f"`{path}` has {len(lines)} lines ({len(text.encode())} bytes); "
        f"it starts with: {heading[:80]!r}."
    )
