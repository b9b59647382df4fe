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


def _commands(root: str) -> list[tuple[str, list[str]]]:
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
            argv = [_expand(a, env) for a in [*c["command"], *c.get("args", [])]]
            out.append((f"{root} {doc['kind']}/{doc['metadata']['name']} {c['name']}", argv))
    return out


@cache
def _locust_options(locustfile: str) -> frozenset[str]:
    """Option strings Locust accepts with this locustfile (its plugin adds qi-load's)."""
    proc = subprocess.run(
        [str(BIN / "locust"), "-f", locustfile, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", proc.stdout))


def _check_qi_load(where: str, argv: list[str]) -> None:
    help_run = subprocess.run(
        [str(BIN / "qi-load"), argv[1], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert help_run.returncode == 0, f"{where}: {help_run.stderr}"
    assert "not implemented" not in help_run.stdout, f"{where}: `qi-load {argv[1]}` is a stub"
    try:
        build_parser().parse_args(argv[1:])  # the exact arguments, types and all
    except SystemExit as exc:
        raise AssertionError(f"{where}: qi-load rejects {argv[1:]}") from exc


def _check_locust(where: str, argv: list[str]) -> None:
    # The manifests load /config/locustfiles/X from the ConfigMap made of locustfiles/X.
    locustfile = REPO / "locustfiles" / Path(argv[argv.index("-f") + 1]).name
    if not locustfile.is_file():
        pytest.skip(f"{locustfile.relative_to(REPO)} has not landed yet: plugin options unknown")
    known = _locust_options(str(locustfile))
    unknown = [a for a in argv[1:] if a.startswith("-") and a.split("=")[0] not in known]
    assert not unknown, f"{where}: locust does not know {unknown}"


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
