"""Cost per file against tree size, drawn from the scaling figures (matplotlib: `pip install -e '.[bench]'`)."""

from __future__ import annotations

from pathlib import Path

# (series, colour, line style): ours solid, the standard tools dashed in the same colour as what they compare with.
SERIES = [
    ("collectmirror (first run)", "tab:blue", "-"),
    ("cp -as", "tab:blue", "--"),
    ("python scandir+symlink loop", "tab:cyan", ":"),
    ("collectmirror --delete (no-op)", "tab:green", "-"),
    ("rsync -a --delete (no-op)", "tab:green", "--"),
    ("verifymirror", "tab:red", "-"),
    ("find -xtype l", "tab:red", "--"),
]


def draw(scaling: dict[str, dict[int, float]], path: Path, title: str) -> bool:
    """scaling: series -> {files: seconds}. False (and nothing drawn) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(10, 5), dpi=110)
    for label, colour, style in SERIES:
        points = sorted(scaling.get(label, {}).items())
        if not points:
            continue
        counts = [count for count, _ in points]
        axes.plot(
            counts,
            [seconds / count * 1e6 for count, seconds in points],
            style,
            color=colour,
            marker="o",
            label=label,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("files in the tree")
    axes.set_ylabel("µs per file (wall clock, process start-up included)")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True
