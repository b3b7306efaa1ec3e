"""Draws the benchmark plots of docs/benchmarks.md from results files (SVG, log scale).

The scripts write their results with ``--json``; this draws from those files::

    python benchmarks/plot.py --persistence results.json --workloads workloads.json \\
        --out docs/img

``--persistence`` (from ``bench_persistence.py``) gives ``rounds-vs-n.svg`` and
``rounds-vs-k.svg`` (user data, and ``conversations.svg`` if it ran with ``--conversations``);
``--workloads`` (from ``bench_workloads.py``) gives
``conversations.svg`` and ``bot-data.svg``. The SVGs are deterministic (no date, fixed ids), so
drawing the same numbers again changes no byte.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE = {
    "json": ("JsonPersistence", "#1f77b4", "o"),
    "pickle-n": ("Pickle(single_file=False)", "#d62728", "s"),
    "pickle-1": ("Pickle(single_file=True)", "#ff7f0e", "^"),
}
ESTIMATED = "hollow markers: Pickle rounds estimated from a shorter round (see Method)"
plt.rcParams.update(
    {
        "svg.hashsalt": "jsonpersist",  # fixed ids: the same numbers make the same file
        "svg.fonttype": "none",  # text stays text: smaller, and no glyph paths to differ
        "font.size": 9,
    }
)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(figure)
    return path


def _axes(axes: Axes, title: str, xlabel: str) -> None:
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("round, median (ms)")
    axes.grid(True, which="major", linewidth=0.5, alpha=0.5)
    axes.grid(True, which="minor", linewidth=0.3, alpha=0.25)


def _legend(figure: Figure, axes: Axes, columns: int = 3, note: str = "") -> None:
    """One legend for the figure, below the panels, so that it hides no line."""
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=columns,
        fontsize=8,
        title=note or None,
        title_fontsize=8,
        handlelength=3.5,
    )
    figure.tight_layout()


def _line(
    axes: Axes,
    kind: str,
    points: list[tuple[float, float, bool]],
    style: str = "-",
    suffix: str = "",
) -> None:
    """One persistence's line; estimated points (``True``) are drawn hollow."""
    if not points:
        return
    label, color, marker = STYLE[kind]
    points.sort()
    xs, ys = [p[0] for p in points], [p[1] * 1000 for p in points]
    axes.plot(xs, ys, style, color=color, marker=marker, label=label + suffix, linewidth=1.2)
    hollow = [(x, y * 1000) for x, y, estimated in points if estimated]
    if hollow:
        axes.plot(
            [x for x, _ in hollow],
            [y for _, y in hollow],
            linestyle="none",
            marker=marker,
            markerfacecolor="white",
            color=color,
        )


# ------------------------------------------------------------------ bench_persistence.py


def _persistence_median(run: dict[str, Any], k: str) -> tuple[float, bool] | None:
    entry = run["rounds"].get(k)
    if entry is None:
        return None
    times = [r["time"] for r in entry["runs"]]
    return statistics.median(times), entry["estimated_from"] is not None


def persistence_plots(document: dict[str, Any], out: Path) -> list[Path]:
    """``rounds-vs-n.svg`` and ``rounds-vs-k.svg`` from a ``bench_persistence.py`` results file.

    Args:
        document (dict): The file's contents (``--json`` of ``bench_persistence.py``).
        out (Path): The directory to write into.

    Returns:
        list[Path]: The files written.
    """
    results = {int(n): kinds for n, kinds in document["results"].items()}
    ks_of = {int(n): ks for n, ks in document["ks_of"].items()}  # str keys once read from JSON
    sizes = sorted(results)
    written = []

    figure, panels = plt.subplots(1, 2, figsize=(8, 3.4), sharey=True)
    for axes, k in zip(panels, (1, 100), strict=True):
        for kind in STYLE:
            points: list[tuple[float, float, bool]] = []
            for n in sizes:
                run = results[n].get(kind)
                value = _persistence_median(run, str(k)) if run else None
                if value is not None:
                    points.append((n, *value))
            _line(axes, kind, points)
        _axes(axes, f"user data: {k} of N users changed per round", "N (users)")
    _legend(figure, panels[0], note=ESTIMATED)
    written.append(_save(figure, out / "rounds-vs-n.svg"))

    figure, panels = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.4), sharey=True)
    panel_list = list(panels) if len(sizes) > 1 else [panels]
    for axes, n in zip(panel_list, sizes, strict=True):
        ks = ks_of[n]
        for kind in STYLE:
            run = results[n].get(kind)
            points = []
            for k in ks:
                value = _persistence_median(run, str(k)) if run else None
                if value is not None:
                    points.append((k, *value))
            _line(axes, kind, points)
        _axes(axes, f"user data: N = {n:,} users", "K (users changed per round)")
    _legend(figure, panel_list[0], note=ESTIMATED)
    written.append(_save(figure, out / "rounds-vs-k.svg"))
    if document.get("conversations"):
        written += workload_plots(document["conversations"], out)
    return written


# -------------------------------------------------------------------- bench_workloads.py


def _workload_points(
    results: list[dict[str, Any]], workload: str, kind: str, scenario: str
) -> list[tuple[float, float, bool]]:
    return [
        (r["n"], statistics.median(run["time"] for run in r["rounds"][scenario]), False)
        for r in results
        if r["workload"] == workload and r["kind"] == kind and scenario in r["rounds"]
    ]


def workload_plots(results: list[dict[str, Any]], out: Path) -> list[Path]:
    """``conversations.svg`` and ``bot-data.svg`` from ``bench_workloads.py`` results.

    A plot is drawn only for a workload measured at two sizes or more.

    Args:
        results (list[dict]): The ``results`` of a ``bench_workloads.py`` results file.
        out (Path): The directory to write into.

    Returns:
        list[Path]: The files written.
    """
    written = []

    def sizes(workload: str) -> int:
        return len({r["n"] for r in results if r["workload"] == workload})

    if sizes("conversations") >= 2:
        figure, axes = plt.subplots(figsize=(5.5, 3.8))
        for kind in STYLE:
            for scenario, style, suffix in (
                ("k1", "-", ", 1 step"),
                ("k100", "--", ", 100 steps"),
            ):
                points = _workload_points(results, "conversations", kind, scenario)
                _line(axes, kind, points, style, suffix)
        _axes(axes, "one ConversationHandler: a round of K steps", "active conversations")
        _legend(figure, axes, columns=3)
        written.append(_save(figure, out / "conversations.svg"))

    bots = [w for w in ("bot-int", "bot-str") if sizes(w) >= 2]
    if bots:
        figure, panels = plt.subplots(1, len(bots), figsize=(4.2 * len(bots), 3.6), sharey=True)
        panel_list = list(panels) if len(bots) > 1 else [panels]
        titles = {"bot-int": "int keys", "bot-str": "str keys"}
        for axes, workload in zip(panel_list, bots, strict=True):
            for kind in STYLE:
                for scenario, style, suffix in (
                    ("unchanged", "-", ", nothing changed"),
                    ("one", "--", ", one key changed"),
                ):
                    points = _workload_points(results, workload, kind, scenario)
                    _line(axes, kind, points, style, suffix)
            _axes(axes, f"bot_data {{user_id: dict}}, {titles[workload]}", "N (keys)")
        _legend(figure, panel_list[0], columns=3)
        written.append(_save(figure, out / "bot-data.svg"))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persistence", help="results file of bench_persistence.py --json")
    parser.add_argument("--workloads", help="results file of bench_workloads.py --json")
    parser.add_argument("--out", default="docs/img", help="directory (default docs/img)")
    args = parser.parse_args()
    jobs: list[tuple[str, Callable[[Any, Path], list[Path]]]] = []
    if args.persistence:
        jobs.append((args.persistence, persistence_plots))
    if args.workloads:
        jobs.append((args.workloads, lambda doc, out: workload_plots(doc["results"], out)))
    if not jobs:
        parser.error("give --persistence and/or --workloads")
    for source, draw in jobs:
        for path in draw(json.loads(Path(source).read_text()), Path(args.out)):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
