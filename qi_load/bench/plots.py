"""PNG figures of startup and toolchain benchmark documents (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qi_load.units import MB

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_startup", "plot_toolchain"]

_LEVEL_STYLE = {"stretch": ":", "target": "--", "minimum": "-"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _target_lines(ax: Axes, target: dict[str, Any]) -> None:
    for level, style in _LEVEL_STYLE.items():
        ax.axhline(target[level], color="grey", linestyle=style, linewidth=1, label=level)


def plot_startup(document: dict[str, Any], path: Path) -> Path:
    """Per run: time to ready split into the reported phases, and RSS, against the targets."""
    plt = _pyplot()
    runs = document["runs"]
    indices = [run["index"] for run in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    bottom = [0.0] * len(runs)
    for name in document["phases"]:
        heights = [run["phases"].get(name, 0.0) for run in runs]
        left.bar(indices, heights, bottom=bottom, label=name)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    timed = "exit" if document["rss_basis"] == "peak" else "ready"
    left.plot(indices, [run["ready_ms"] for run in runs], "ko-", label=f"time to {timed}")
    if "startup" in document["grades"]:
        _target_lines(left, document["grades"]["startup"]["target"])
    left.set_xlabel("run")
    left.set_ylabel("ms")
    left.set_title(f"Startup: time to {timed}")
    left.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    rss = [run["rss_bytes"] / MB for run in runs]
    right.bar(indices, rss, color="tab:purple", label="RSS")
    if "memory" in document["grades"]:
        _target_lines(right, document["grades"]["memory"]["target"])
    right.set_xlabel("run")
    right.set_ylabel("MB")
    right.set_title("Peak RSS" if timed == "exit" else "RSS of the process tree at ready")
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_toolchain(document: dict[str, Any], path: Path) -> Path:
    """Per comparison: every iteration's wall time of both commands, and the speedup."""
    plt = _pyplot()
    comparisons = document["comparisons"]
    fig, axes = plt.subplots(
        1, len(comparisons), figsize=(4 * len(comparisons) + 1, 4.5), squeeze=False
    )
    for ax, comparison in zip(axes[0], comparisons, strict=True):
        sides = ("baseline", "candidate")
        for x, side in enumerate(sides):
            walls = [m["wall_s"] for m in comparison[side]["iterations"]]
            mean = comparison[side]["wall_s"]["mean"]
            std = comparison[side]["wall_s"]["stddev"]
            ax.bar(x, mean, yerr=std, capsize=6, alpha=0.6)
            ax.plot([x] * len(walls), walls, "k.", markersize=8)
        ax.set_xticks(range(len(sides)), [comparison[s]["label"] for s in sides])
        ax.set_ylabel("wall time (s)")
        ratio = comparison["speedup"]
        ax.set_title(
            f"{comparison['name']}\nspeedup {ratio['factor']:.2f}x "
            f"[{ratio['low']:.2f}, {ratio['high']:.2f}]",
            fontsize="medium",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
