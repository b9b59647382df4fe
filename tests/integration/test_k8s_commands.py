"""Every command in k8s/ and the Dockerfile is one the installed CLIs accept."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from qi_load.cli import build_parser

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl")
ROOTS = [f"overlays/{p.name}" for p in sorted((K8S / "overlays").iterdir())] + [
    "sut",
    "tools/reports-reader",
]
# Commands the manifests may run besides the two CLIs (the reports reader idles for kubectl cp).
OTHER_COMMANDS = {"sleep"}

# Runs in a subprocess: imports the locustfile as Locust does (its plugin registers qi-load's
# options: `locust --help` prints help before loading the locustfile, so it cannot list them),
# builds Locust's full parser and parses each argument list read from stdin.
_PARSE_WITH_LOCUST = """
import importlib.util, json, sys
from locust.argument_parser import get_parser
spec = importlib.util.spec_from_file_location("locustfile", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
parser = get_parser(default_config_files=[])
for args in json.load(sys.stdin):
    try:
        print("QI_RESULT", json.dumps(parser.parse_known_args(args)[1]))
    except SystemExit:
        print("QI_RESULT", json.dumps(["rejected: " + " ".join(args)]))
"""


def _render(root: str) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _expand(text: str, env: dict[str, str]) -> str:
    # Kubernetes' $(VAR) expansion, with the container's own environment.
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], text)


@cache
def _commands(root: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(where, argv) of every container, with $(VAR) expanded as the kubelet would."""
    docs = _render(root)
    configmaps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    out = []
    for doc in docs:
        if doc["kind"] not in {"Pod", "Job", "Deployment"}:
            continue
        spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            env: dict[str, str] = {}
            for source in c.get("envFrom", []):
                env.update(configmaps[source["configMapRef"]["name"]])
            for var in c.get("env", []):
                # Values from the downward API or Secrets: a plausible stand-in.
                env[var["name"]] = _expand(var.get("value", f"{var['name'].lower()}-x1y2z"), env)
            argv = tuple(_expand(a, env) for a in [*c["command"], *c.get("args", [])])
            out.append((f"{root} {doc['kind']}/{doc['metadata']['name']} {c['name']}", argv))
    return tuple(out)


def _local_locust_args(argv: tuple[str, ...]) -> tuple[str, ...]:
    """Locust's arguments with -f pointing at the repository file the ConfigMap copies."""
    args = list(argv[1:])
    i = args.index("-f") + 1
    args[i] = str(REPO / "locustfiles" / Path(args[i]).name)
    return tuple(args)


@cache
def _locust_verdicts() -> dict[tuple[str, ...], list[str]]:
    """Every Locust command line in k8s/ -> the arguments Locust rejects (one subprocess per
    locustfile, so the suite stays fast)."""
    by_file: dict[str, list[tuple[str, ...]]] = {}
    for root in ROOTS:
        for _, argv in _commands(root):
            if argv[0] == "locust":
                args = _local_locust_args(argv)
                by_file.setdefault(args[args.index("-f") + 1], []).append(args)
    verdicts: dict[tuple[str, ...], list[str]] = {}
    for locustfile, arg_lists in by_file.items():
        assert Path(locustfile).is_file(), f"no {locustfile}"
        proc = subprocess.run(
            [sys.executable, "-c", _PARSE_WITH_LOCUST, locustfile],
            input=json.dumps(arg_lists),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=REPO,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        results = [
            json.loads(line.removeprefix("QI_RESULT "))
            for line in proc.stdout.splitlines()
            if line.startswith("QI_RESULT ")
        ]
        assert len(results) == len(arg_lists), proc.stdout + proc.stderr[-2000:]
        verdicts.update(zip(arg_lists, results, strict=True))
    return verdicts


@cache
def _help_succeeds(*argv: str) -> str:
    """Empty when `argv --help` exits 0 and is no stub, else what went wrong."""
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        return proc.stderr[-2000:]
    return "stub" if "not implemented" in proc.stdout else ""


def _check_qi_load(where: str, argv: tuple[str, ...]) -> None:
    assert _help_succeeds(argv[0], argv[1]) == "", f"{where}: qi-load {argv[1]} --help"
    try:
        build_parser().parse_args(list(argv[1:]))  # the exact arguments, types and all
    except SystemExit as exc:
        raise AssertionError(f"{where}: qi-load rejects {argv[1:]}") from exc


def _check_locust(where: str, argv: tuple[str, ...]) -> None:
    args = _local_locust_args(argv)
    assert _help_succeeds("locust", "-f", args[args.index("-f") + 1]) == "", where
    unknown = _locust_verdicts()[args]
    assert not unknown, f"{where}: locust (with qi-load's plugin) does not accept {unknown}"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with built-in kustomize) is not installed")
@pytest.mark.parametrize("root", ROOTS)
def test_manifest_commands_exist_in_the_cli(root: str) -> None:
    commands = _commands(root)
    assert commands
    for where, argv in commands:
        if argv[0] == "qi-load":
            _check_qi_load(where, argv)
        elif argv[0] == "locust":
            _check_locust(where, argv)
        else:
            assert argv[0] in OTHER_COMMANDS, f"{where}: unexpected command {argv[0]}"


def _dockerfile_exec_form(instruction: str) -> list[str]:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(rf"^{instruction}\s+(\[.*\])\s*$", text, re.M)
    assert match, f"Dockerfile needs an exec-form {instruction}"
    value: list[str] = json.loads(match.group(1))
    return value


def test_dockerfile_entrypoint_and_cmd_run() -> None:
    argv = _dockerfile_exec_form("ENTRYPOINT") + _dockerfile_exec_form("CMD")
    assert argv[0] in {"qi-load", "locust"}
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
