"""Cgroup quota discovery and usable cores, on fake cgroup trees."""

from __future__ import annotations

from pathlib import Path

import psutil

from qi_load.monitor.hostmon import (
    cpu_quota_cores,
    usable_cores,
)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_quota_v2_takes_the_tightest_level(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proc/7/cgroup": "0::/kubepods/pod1/ctr\n",
            "sys/fs/cgroup/kubepods/cpu.max": "max 100000\n",
            "sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n",
            "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000\n",
        },
    )
    assert cpu_quota_cores(7, root=root) == 1.5


def test_quota_v2_unlimited_is_none(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"proc/7/cgroup": "0::/a\n", "sys/fs/cgroup/a/cpu.max": "max 100000"})
    assert cpu_quota_cores(7, root=root) is None


def test_quota_v2_inside_cgroup_namespace_reads_the_mount_root(tmp_path: Path) -> None:
    # The process sees a host path that its own mount does not contain.
    root = _tree(
        tmp_path,
        {"proc/7/cgroup": "0::/../../host/path\n", "sys/fs/cgroup/cpu.max": "200000 100000\n"},
    )
    assert cpu_quota_cores(7, root=root) == 2.0


def test_quota_v1(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proc/7/cgroup": "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "25000\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cpu_quota_cores(7, root=root) == 0.25


def test_quota_v1_unlimited_and_unreadable(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proc/7/cgroup": "1:cpu:/\n",
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cpu_quota_cores(7, root=root) is None
    assert cpu_quota_cores(8, root=root) is None


def test_usable_cores_are_the_affinity_capped_by_the_quota() -> None:
    me = psutil.Process()
    affinity = len(me.cpu_affinity() or ())
    assert usable_cores(me, None, 64) == affinity
    assert usable_cores(me, 0.5, 64) == 0.5
    assert usable_cores(me, 1000.0, 64) == affinity
