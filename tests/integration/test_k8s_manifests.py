"""k8s/ renders with kustomize, validates offline, and every pod is locked down and sized."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
# kubectl's own Kustomize (v5) on this machine; the Kubernetes API the schemas check against.
KUBECTL = shutil.which("kubectl")
K8S_VERSION = "1.32"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
# Every kustomization a user applies on its own (overlays, the example SUT, the tools).
ROOTS = [f"overlays/{o}" for o in OVERLAYS] + ["sut", "tools/reports-reader"]
POD_KINDS = {"Pod", "Job", "Deployment", "StatefulSet", "DaemonSet"}

needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl (with built-in kustomize) is not installed on this machine"
)


def _load_script(relpath: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(relpath).stem, K8S / relpath)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def render(root: str) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def find(docs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    """The rendered resource; ConfigMap names carry kustomize's hash suffix."""
    for doc in docs:
        doc_name = doc["metadata"]["name"]
        if doc["kind"] == kind and (doc_name == name or doc_name.startswith(name + "-")):
            return doc
    raise AssertionError(f"no {kind} {name} rendered")


def pod_specs(docs: tuple[dict[str, Any], ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in POD_KINDS:
            spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
            yield f"{doc['kind']}/{doc['metadata']['name']}", spec


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def settings(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    data: dict[str, str] = find(docs, "ConfigMap", "qi-load-settings")["data"]
    return data


def _all_roots_params() -> list[Any]:
    return [pytest.param(root, marks=needs_kubectl) for root in ROOTS]


def test_there_are_ladder_and_soak_overlays() -> None:
    assert {"ladder", "soak"} <= set(OVERLAYS)


@pytest.mark.parametrize("root", _all_roots_params())
def test_renders_and_validates_against_kubernetes_schemas(root: str) -> None:
    docs = render(root)
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            raise AssertionError(
                f"{root}: {doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}"
            ) from None


@pytest.mark.parametrize("root", _all_roots_params())
def test_every_pod_and_container_is_locked_down(root: str) -> None:
    specs = list(pod_specs(render(root)))
    assert specs
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in containers(spec):
            at = f"{where} container {c['name']}"
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, at
            assert sc["runAsUser"] == 10001, at
            assert sc["readOnlyRootFilesystem"] is True, at
            assert sc["allowPrivilegeEscalation"] is False, at
            assert sc["capabilities"] == {"drop": ["ALL"]}, at
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, at
            assert "privileged" not in sc, at
            # A writable /tmp (matplotlib, fontconfig caches) on an emptyDir, not the root fs.
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1, at
            assert "emptyDir" in volumes[tmp[0]["name"]], at


@pytest.mark.parametrize("root", _all_roots_params())
def test_every_container_requests_equal_limits(root: str) -> None:
    for where, spec in pod_specs(render(root)):
        for c in containers(spec):
            resources = c["resources"]
            at = f"{root}: {where} container {c['name']}"
            assert set(resources["requests"]) >= {"cpu", "memory"}, at
            assert resources["requests"] == resources["limits"], at


@pytest.mark.parametrize("overlay", [pytest.param(o, marks=needs_kubectl) for o in OVERLAYS])
def test_worker_count_is_one_knob(overlay: str) -> None:
    docs = render(overlay_root := f"overlays/{overlay}")
    workers = int(settings(docs)["QI_LOAD_WORKERS"])
    worker_job = find(docs, "Job", "qi-load-worker")["spec"]
    assert worker_job["parallelism"] == worker_job["completions"] == workers, overlay_root
    master = find(docs, "Job", "qi-load-master")["spec"]["template"]["spec"]
    args = master["initContainers"][0]["args"]
    assert args[args.index("--expect-workers") + 1] == "$(QI_LOAD_WORKERS)"


@pytest.mark.parametrize("overlay", [pytest.param(o, marks=needs_kubectl) for o in OVERLAYS])
def test_config_maps_carry_the_scenario_and_locustfile_used(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    scenarios = find(docs, "ConfigMap", "qi-load-scenarios").get("data", {})
    locustfiles = find(docs, "ConfigMap", "qi-load-locustfiles").get("data", {})
    assert f"{settings(docs)['QI_LOAD_SCENARIO']}.yaml" in scenarios
    for _, spec in pod_specs(docs):
        for c in containers(spec):
            args = c.get("args", [])
            if "-f" in args:
                assert Path(args[args.index("-f") + 1]).name in locustfiles


@needs_kubectl
def test_config_maps_equal_the_repository_files() -> None:
    docs = render("overlays/ladder")
    scenarios = find(docs, "ConfigMap", "qi-load-scenarios").get("data", {})
    locustfiles = find(docs, "ConfigMap", "qi-load-locustfiles").get("data", {})
    expected_scenarios = {
        p.name: p.read_text(encoding="utf-8") for p in (REPO / "scenarios").glob("*.yaml")
    }
    expected_locustfiles = {
        p.name: p.read_text(encoding="utf-8") for p in (REPO / "locustfiles").glob("*.py")
    }
    hint = "stale copies: run `python k8s/sync_config.py` and commit k8s/base/config/"
    assert scenarios == expected_scenarios, hint
    assert locustfiles == expected_locustfiles, hint


def test_config_copies_are_in_sync() -> None:
    stale = _load_script("sync_config.py").stale()
    assert stale == [], f"run `python k8s/sync_config.py`; stale: {stale}"


def test_sync_check_notices_edited_missing_and_extra_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _load_script("sync_config.py")
    monkeypatch.setattr(script, "CONFIG_DIR", tmp_path / "config")
    assert script.stale() == sorted(str(p) for p in script.expected_files())
    script.sync()
    assert script.stale() == []
    kustomization = tmp_path / "config" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "# edited\n")
    (tmp_path / "config" / "scenarios" / "extra.yaml").write_text("name: extra\n")
    scenario = next((tmp_path / "config" / "scenarios").glob("ladder.yaml"))
    scenario.unlink()
    assert script.stale() == ["kustomization.yaml", "scenarios/extra.yaml", "scenarios/ladder.yaml"]
    assert script.main(["--check"]) == 1
    script.sync()
    assert script.main(["--check"]) == 0


@pytest.mark.parametrize("root", _all_roots_params())
def test_every_variable_reference_resolves(root: str) -> None:
    """Kubernetes leaves an unknown $(VAR) as literal text: a typo would go unnoticed."""
    docs = render(root)
    configmaps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    for where, spec in pod_specs(docs):
        for c in containers(spec):
            known: set[str] = set()
            for source in c.get("envFrom", []):
                known |= set(configmaps[source["configMapRef"]["name"]])
            for var in c.get("env", []):
                for ref in re.findall(r"\$\((\w+)\)", var.get("value", "")):
                    assert ref in known, f"{where} {c['name']} env {var['name']}: $({ref})"
                known.add(var["name"])
            for arg in [*c.get("command", []), *c.get("args", [])]:
                for ref in re.findall(r"\$\((\w+)\)", arg):
                    assert ref in known, f"{root}: {where} {c['name']}: $({ref}) is undefined"


@pytest.mark.parametrize("root", _all_roots_params())
def test_no_secret_in_config_maps_and_api_key_from_a_secret(root: str) -> None:
    docs = render(root)
    for doc in docs:
        if doc["kind"] == "ConfigMap" and not doc["metadata"]["name"].startswith(
            ("qi-load-scenarios", "qi-load-locustfiles")
        ):
            for key in doc.get("data", {}):
                assert not re.search(r"key|token|secret|password", key, re.I), key
    for where, spec in pod_specs(docs):
        for c in containers(spec):
            for var in c.get("env", []):
                if var["name"] == "QI_LOAD_API_KEY":
                    assert "secretKeyRef" in var["valueFrom"], f"{where} {c['name']}"


@pytest.mark.parametrize(
    ("overlay", "required"),
    [
        pytest.param(o, o != "smoke", marks=needs_kubectl)  # smoke: a one-node cluster is fine
        for o in OVERLAYS
    ],
)
def test_workers_keep_away_from_the_system_under_test(overlay: str, required: bool) -> None:
    spec = find(render(f"overlays/{overlay}"), "Job", "qi-load-worker")["spec"]["template"]["spec"]
    anti = spec["affinity"]["podAntiAffinity"]
    hard = anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
    soft = [t["podAffinityTerm"] for t in anti["preferredDuringSchedulingIgnoredDuringExecution"]]
    sut = {"app.kubernetes.io/name": "agent"}
    terms = hard if required else soft
    assert any(
        t["labelSelector"]["matchLabels"] == sut
        and t["topologyKey"] == "kubernetes.io/hostname"
        and t["namespaceSelector"] == {}  # the agent usually lives in another namespace
        for t in terms
    )
    assert any(
        t["labelSelector"]["matchLabels"].get("app.kubernetes.io/component") == "worker"
        for t in soft
    ), "workers should prefer to spread over nodes"


@needs_kubectl
def test_sut_pods_carry_the_label_workers_avoid() -> None:
    deployment = find(render("sut"), "Deployment", "agent")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "agent"


@pytest.mark.parametrize("overlay", [pytest.param(o, marks=needs_kubectl) for o in OVERLAYS])
def test_master_is_scraped_and_reachable(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    job = find(docs, "Job", "qi-load-master")["spec"]
    template = job["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    locust = template["spec"]["initContainers"][0]
    ports = {p["name"]: p["containerPort"] for p in locust["ports"]}
    assert ports == {"locust": 5557, "monitor": 5558, "metrics": 9646, "web": 8089}
    assert annotations["prometheus.io/port"] == str(ports["metrics"])
    args = locust["args"]
    assert args[args.index("--metrics-port") + 1] == str(ports["metrics"])
    assert args[args.index("--monitor-port") + 1] == str(ports["monitor"])
    assert job["backoffLimit"] == 0
    service = find(docs, "Service", "qi-load-master")
    assert service["spec"]["publishNotReadyAddresses"] is True  # Locust runs in an init container
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    worker = find(docs, "Job", "qi-load-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][worker["args"].index("--master-host") + 1] == "qi-load-master"


@needs_kubectl
def test_master_writes_and_reports_the_same_run_directory_on_the_pvc() -> None:
    spec = find(render("overlays/ladder"), "Job", "qi-load-master")["spec"]["template"]["spec"]
    locust, report = spec["initContainers"][0], spec["containers"][0]
    run_dir = locust["args"][locust["args"].index("--run-dir") + 1]
    assert report["command"] == ["qi-load"]
    assert report["args"] == ["report", run_dir]
    claims = {v["name"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    for c in (locust, report):
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts["/reports"] in claims
    assert run_dir.startswith("/reports/")


def test_image_constraints_pin_every_direct_runtime_dependency() -> None:
    """Direct dependencies only: the transitive set depends on what this venv resolved."""
    script = _load_script("image/freeze_constraints.py")
    pins: dict[str, str] = {}
    for line in script.CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    hint = "run `.venv/bin/python k8s/image/freeze_constraints.py`"
    for req in script.runtime_requirements():
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not pinned: {hint}"
        assert req.specifier.contains(version, prereleases=True), f"{req} vs =={version}: {hint}"


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text(encoding="utf-8")


def _dockerignored(relpath: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    candidates = [relpath] + [str(p) for p in Path(relpath).parents if str(p) != "."]
    ignored = False
    for pattern in patterns:
        include = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, glob) for c in candidates):
            ignored = not include
    return ignored


def test_dockerfile_base_is_pinned_and_user_is_not_root() -> None:
    text = _dockerfile()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?$", text, re.M)
    assert re.search(r"^USER 10001(:10001)?$", text, re.M)
    assert "PYTHONUNBUFFERED=1" in text
    # The manifests mount /tmp as the only writable path; caches must go there.
    assert "MPLCONFIGDIR=/tmp/" in text


def test_dockerfile_copies_only_what_the_build_context_admits() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        src
        for line in re.findall(r"^COPY\s+(.+)$", _dockerfile(), re.M)
        for src in line.split()[:-1]
        if not src.startswith("--")
    ]
    assert sources
    for src in sources:
        path = REPO / src
        assert path.exists(), f"COPY {src}: no such file"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files = [f for f in files if "__pycache__" not in f.parts]
        excluded = [f for f in files if _dockerignored(str(f.relative_to(REPO)), patterns)]
        assert not excluded, f"COPY {src}: .dockerignore excludes {excluded[:3]}"


@pytest.mark.parametrize("overlay", [pytest.param(o, marks=needs_kubectl) for o in OVERLAYS])
def test_scenario_is_valid_and_fits_the_job_deadlines(overlay: str) -> None:
    from qi_load.scenario import load_scenario

    docs = render(f"overlays/{overlay}")
    name = settings(docs)["QI_LOAD_SCENARIO"]
    scenario = load_scenario(K8S / "base" / "config" / "scenarios" / f"{name}.yaml")
    master = find(docs, "Job", "qi-load-master")["spec"]
    args = master["template"]["spec"]["initContainers"][0]["args"]
    wait_for_workers = int(args[args.index("--expect-workers-max-wait") + 1])
    # Waiting for workers, the scenario itself, then 10 minutes for the report.
    needed = wait_for_workers + scenario.scaled().total_duration_s + 600
    for job in ("qi-load-master", "qi-load-worker"):
        deadline = find(docs, "Job", job)["spec"]["activeDeadlineSeconds"]
        assert deadline >= needed, f"{overlay}: {job} deadline {deadline} s < {needed} s"


@pytest.mark.parametrize("overlay", [pytest.param(o, marks=needs_kubectl) for o in OVERLAYS])
def test_only_the_runs_own_pods_reach_the_master(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    master = find(docs, "Job", "qi-load-master")["spec"]["template"]
    locust = master["spec"]["initContainers"][0]
    args = locust["args"]
    # The sample and metrics ports listen on loopback unless told: the manifest tells.
    assert args[args.index("--monitor-bind-host") + 1] == "0.0.0.0"
    policy = find(docs, "NetworkPolicy", "qi-load-master")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    labels = master["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    admitted = {
        port["port"]: [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
        for rule in policy["ingress"]
        for port in rule["ports"]
    }
    worker = find(docs, "Job", "qi-load-worker")["spec"]["template"]["metadata"]["labels"]
    assert admitted["locust"] and all(m.items() <= worker.items() for m in admitted["locust"])
    assert admitted["monitor"] == [{"app.kubernetes.io/name": "agent"}]
    # Every port the master opens, but the web UI (port-forward only), is named in the policy.
    opened = {p["name"] for p in locust["ports"]}
    assert opened - {"web"} == set(admitted)
    workers = find(docs, "NetworkPolicy", "qi-load-worker")["spec"]
    assert workers["policyTypes"] == ["Ingress"] and not workers.get("ingress")


@pytest.mark.parametrize("root", _all_roots_params())
def test_sidecars_and_workers_share_the_masters_ingest_key(root: str) -> None:
    users = set()
    for where, spec in pod_specs(render(root)):
        for c in containers(spec):
            for var in c.get("env", []):
                if var["name"] == "QI_LOAD_INGEST_KEY":
                    ref = var["valueFrom"]["secretKeyRef"]
                    assert ref == {"name": "qi-load-ingest", "key": "key"}, where
                    users.add(f"{where}/{c['name']}")
    expected = {
        "sut": {"Deployment/agent/qi-load-monitor"},
        "tools/reports-reader": set(),
    }.get(root, {"Job/qi-load-master/locust", "Job/qi-load-worker/locust"})
    assert users == expected
