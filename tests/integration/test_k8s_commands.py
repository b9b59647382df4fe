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
from processes import free_port

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


def _local(argv: tuple[str, ...], reports: Path) -> list[str]:
    """A container's command with the pod's mounts mapped onto this machine: ConfigMap
    mounts onto the copies they are generated from, the PVC onto a temporary folder."""
    config = str(K8S / "base" / "config")
    return [
        str(BIN / argv[0]),
        *(
            a.replace("/config", config, 1).replace("/reports", str(reports), 1)
            if a.startswith(("/config/", "/reports/"))
            else a
            for a in argv[1:]
        ),
    ]


def _set_option(argv: list[str], option: str, value: str) -> None:
    argv[argv.index(option) + 1] = value


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (with built-in kustomize) is not installed")
def test_smoke_overlay_runs_end_to_end_with_the_manifest_commands(tmp_path: Path) -> None:
    """The smoke overlay's master, worker and report commands, as rendered, against the
    reference agent: the master waits for its worker, runs the scenario, and the report
    container's command renders the run directory the master wrote."""
    from qi_load.agent.launch import start_target

    # "overlays/smoke Job/qi-load-master locust" -> "Job/qi-load-master locust"
    commands = {where.split(" ", 1)[1]: argv for where, argv in _commands("overlays/smoke")}
    master = _local(commands["Job/qi-load-master locust"], tmp_path)
    report = _local(commands["Job/qi-load-master report"], tmp_path)
    worker = _local(commands["Job/qi-load-worker locust"], tmp_path)
    # The Service name and fixed container ports become loopback and free ports here.
    zmq_port = free_port()
    _set_option(master, "--monitor-port", str(free_port()))
    _set_option(master, "--metrics-port", str(free_port()))
    master += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(zmq_port)]
    _set_option(worker, "--master-host", "127.0.0.1")
    worker += ["--master-port", str(zmq_port)]
    run_dir = Path(report[-1])
    assert run_dir.parent == tmp_path

    with start_target(["--slots", "8"]) as target:
        for argv in (master, worker):
            _set_option(argv, "--host", target.url)
        logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("master", "worker")}
        procs = {
            "master": subprocess.Popen(master, stdout=logs["master"], stderr=subprocess.STDOUT),
            "worker": subprocess.Popen(worker, stdout=logs["worker"], stderr=subprocess.STDOUT),
        }
        try:
            master_rc = procs["master"].wait(timeout=90)
            worker_rc = procs["worker"].wait(timeout=30)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
            for log in logs.values():
                log.close()
    master_log = (tmp_path / "master.log").read_text(errors="replace")[-3000:]
    assert master_rc == 0, master_log
    assert worker_rc == 0, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]

    manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == run_dir.name
    assert manifest["status"] == "complete", master_log
    assert len(manifest["workers"]) == 1
    rows = (run_dir / "requests.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) > 5, master_log
    assert (run_dir / "locust_stats.csv").is_file()

    proc = subprocess.run(report, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "report.html").is_file()
