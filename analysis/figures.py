"""Figures (PNG and PDF): per-seed strip + box plots, Table 2's threshold curve, expected-maximum
curves, and, when the records have them, component statistics (the paper's Figures 2-3) and
gradual unfreezing per iteration (Figure 1)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import paper  # noqa: E402
from .tables import ORDER, recipe_label, recipe_labels  # noqa: E402

def _save(fig, out: Path, name: str) -> list[str]:
    fig.tight_layout()
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        # no creation date in the PDF: regenerating an unchanged figure leaves the file unchanged
        fig.savefig(path, dpi=130, metadata={"CreationDate": None} if ext == "pdf" else None)
        paths.append(path.name)
    plt.close(fig)
    return paths


def _tasks(df):
    return [t for t in paper.TASK_ORDER if t in set(df["task"])] + sorted(set(df["task"]) - set(paper.TASK_ORDER))


def strip_box(runs: pd.DataFrame, out: Path, rule: str) -> list[str]:
    """Per experiment and task: each recipe's runs (in Table 1's row order) as dots over a box plot. Failed runs
    are red; runs that predict one class for every dev example (a collapse) are crosses, and a recipe whose
    every run collapsed says so in words (its dots sit on one line that otherwise looks like a stable recipe)."""
    done = runs[runs["status"] == "completed"].copy()
    files = []
    fcol = {"majority": "failed_majority", "fixed": "failed_fixed"}[rule]
    rank = {m: i for i, m in enumerate(ORDER)}
    names = paper.recorded_task_labels(runs)
    for exp, e in done.groupby("experiment"):
        labels = recipe_labels(e)
        tasks = _tasks(e)
        fig, axes = plt.subplots(1, len(tasks), figsize=(max(6.5, 4.5 * len(tasks)), 4), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            t = e[e["task"] == task]
            keys = sorted(t.groupby(["method", "params"]).groups, key=lambda k: (rank.get(k[0], len(rank)), k))
            groups = [(recipe_label(m, p, labels), t[(t["method"] == m) & (t["params"] == p)]) for m, p in keys]
            rng = np.random.default_rng(0)
            ax.boxplot([100 * g["metric"].astype(float) for _, g in groups], widths=0.5, showfliers=False)
            labelled: set[str] = set()

            def once(name: str) -> str | None:
                if name in labelled:
                    return None
                labelled.add(name)
                return name

            for i, (_, g) in enumerate(groups, start=1):
                y = 100 * g["metric"].astype(float).to_numpy()
                failed = g[fcol].astype(bool).to_numpy()
                single = g["single_class"].map(lambda v: v is True or v == 1.0).to_numpy(bool) \
                    if "single_class" in g else np.zeros(len(g), bool)
                x = i + rng.uniform(-0.15, 0.15, len(y))
                for mask, color, marker, name in ((~failed & ~single, "tab:blue", "o", "run"),
                                                  (failed & ~single, "tab:red", "o", "failed run"),
                                                  (~failed & single, "tab:blue", "x", "single-class run"),
                                                  (failed & single, "tab:red", "x", "failed, single-class run")):
                    if mask.any():
                        ax.scatter(x[mask], y[mask], s=16 if marker == "o" else 22, alpha=0.85, color=color,
                                   marker=marker, label=once(name))
                if len(y) and single.all():
                    ax.annotate(f"all {len(y)} runs\none class", (i, y.max()), xytext=(0, 8),
                                textcoords="offset points", ha="center", fontsize=7, color="tab:red")
            base = t["majority_baseline"].dropna()
            if len(base):
                ax.axhline(100 * base.iloc[0], color="gray", ls="--", lw=1, label="majority baseline")
            ax.set_xticks(range(1, len(groups) + 1), [n for n, _ in groups], rotation=30, ha="right", fontsize=8)
            ax.set_title(paper.task_label(task, names))
            ax.set_ylabel("dev metric (pp)")
            ax.legend(fontsize=7)
        fig.suptitle(f"{exp}: per-seed dev metric (box: quartiles)")
        files += _save(fig, out, f"strip_{exp}")
    return files


def param_curve(spec, rows: pd.DataFrame, runs: pd.DataFrame, out: Path) -> list[str]:
    """A parameter table as a curve: mean ± std and max per parameter value, every run behind them."""
    files = []
    names = paper.recorded_task_labels(runs)
    for exp, e in rows.groupby("experiment"):
        fig, ax = plt.subplots(figsize=(5.5, 4))
        x = e[spec.param].to_numpy(float)
        ax.errorbar(x, 100 * e["mean"], yerr=100 * e["std"], marker="o", capsize=4, label="mean ± std")
        ax.plot(x, 100 * e["max"], "^", color="tab:green", label="max")
        r = runs[(runs["experiment"] == exp) & (runs["status"] == "completed") & runs[spec.param].notna()]
        for key, value in spec.where.items():
            r = r[r[key].astype(str) == str(value)]
        ax.scatter(r[spec.param].astype(float), 100 * r["metric"].astype(float), s=8, alpha=0.4, color="gray",
                   label="runs")
        if spec.log_axis:
            ax.set_xscale("log")
        notes = [f" (≥{n['at_least']:g}:{n['note']})" for n in spec.value_notes if (x >= n["at_least"]).any()]
        ax.set_xlabel((spec.axis_label or spec.param) + "".join(notes))
        ax.set_ylabel(f"{paper.task_label(e['task'].iloc[0], names)} dev (pp)")
        ax.set_title(f"{spec.name} — {exp}")
        ax.legend(fontsize=8)
        files += _save(fig, out, f"{spec.name}_{exp}")
    return files


def expected_max_curves(emax: pd.DataFrame, out: Path, names: dict[str, str] | None = None) -> list[str]:
    """Per experiment: the unbiased expected maximum over n runs with its 95% band (Dodge et al. 2021) against
    n (top row) and, where the records hold training times, against the training hours n runs take (bottom).
    ``names``: the tasks' recorded labels (``paper.recorded_task_labels`` of the runs)."""
    files = []
    for exp, e in emax.groupby("experiment"):
        tasks = _tasks(e)
        with_time = "train_hours" in e and e["train_hours"].notna().any()
        rows = 2 if with_time else 1
        fig, axes = plt.subplots(rows, len(tasks), figsize=(max(6.5, 4.5 * len(tasks)), 3.6 * rows), squeeze=False)
        for j, task in enumerate(tasks):
            labels = recipe_labels(e)
            for (m, p), g in e[e["task"] == task].groupby(["method", "params"], sort=False):
                y = 100 * g.get("expected_max_unbiased", g["expected_max"])
                for i, x in enumerate(["n_runs"] + (["train_hours"] if with_time else [])):
                    ax = axes[i][j]
                    line, = ax.plot(g[x], y, marker=".", label=recipe_label(m, p, labels))
                    if "em_ci_low" in g:
                        ax.fill_between(g[x], 100 * g["em_ci_low"], 100 * g["em_ci_high"], alpha=0.15,
                                        color=line.get_color(), lw=0)
            axes[0][j].set_title(paper.task_label(task, names))
            axes[0][j].set_xlabel("number of seeds n")
            axes[0][j].xaxis.set_major_locator(MaxNLocator(integer=True))  # n is a count of runs
            axes[0][j].legend(fontsize=7)
            for i in range(rows):
                axes[i][j].set_ylabel("expected max dev metric (pp)")
            if with_time:
                axes[1][j].set_xlabel("training hours (n × mean run time)")
        fig.suptitle(f"{exp}: expected best dev metric of n seeds, 95% band (Dodge et al. 2021)", fontsize=10)
        files += _save(fig, out, f"expected_max_{exp}")
    return files


def early_detection_curves(early: pd.DataFrame, out: Path, names: dict[str, str] | None = None) -> list[str]:
    """Per experiment: precision and recall of each early-stopping rule against the fraction of training
    (``names`` as for ``expected_max_curves``)."""
    files = []
    if early is None or early.empty:
        return files
    for exp, e in early.groupby("experiment"):
        tasks = _tasks(e)
        fig, axes = plt.subplots(1, len(tasks), figsize=(max(6.5, 4.5 * len(tasks)), 3.6), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            for rule, g in e[e["task"] == task].groupby("rule"):
                ax.plot(g["fraction"], g["precision"], marker="o", label=f"{rule}: precision")
                ax.plot(g["fraction"], g["recall"], marker="s", ls="--", label=f"{rule}: recall")
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(paper.task_label(task, names))
            ax.set_xlabel("fraction of training")
            ax.legend(fontsize=7)
        fig.suptitle(f"{exp}: telling failed runs apart early (Dodge et al. 2020)", fontsize=10)
        files += _save(fig, out, f"early_{exp}")
    return files


def component_figures(runs: pd.DataFrame, root: Path, out: Path, rule: str) -> list[str]:
    """Clip rate over steps, gradient norm per layer (successful vs failed runs) and update size per layer."""
    fcol = {"majority": "failed_majority", "fixed": "failed_fixed"}[rule]
    rows = []
    for _, r in runs[runs["status"] == "completed"].iterrows():
        path = Path(root) / r["experiment"] / r["run_dir"] / "component_stats.npz"
        if not path.exists():
            path = Path(root) / r["run_dir"] / "component_stats.npz"
        if path.exists():
            rows.append((r, np.load(path)))
    if not rows:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for r, z in rows:
        label = f"{recipe_label(r['method'], r['params'])} {'failed' if r[fcol] else 'ok'}"
        color = "tab:red" if r[fcol] else "tab:blue"
        clipped = (z["grad_norm_after"] < z["grad_norm"]).mean(axis=1)
        axes[0].plot(z["steps"], clipped, color=color, alpha=0.5, label=label)
        # each tensor's transformer layer, from the model's family (-1 embeddings, the largest index the head)
        layers = z["layers"] if "layers" in z.files else np.full(len(z["names"]), -2)
        body = [k for k in sorted(set(layers.tolist())) if 0 <= k < layers.max()]
        per_layer = [np.nanmax(z["grad_norm"][:, layers == k], axis=1) for k in body]
        if per_layer:
            axes[1].plot(z["steps"], np.nanmax(np.stack(per_layer), axis=0), color=color, alpha=0.5)
            final = [np.nanmax(z["rms_diff"][-1, layers == k]) for k in body]
            axes[2].plot(range(len(final)), final, marker=".", color=color, alpha=0.5)
    axes[0].set(title="fraction of components clipped", xlabel="step")
    axes[1].set(title="max gradient norm (before clipping) over layers", xlabel="step", yscale="log")
    axes[2].set(title="max RMS difference from pretrained, per layer (last logged step)", xlabel="layer")
    handles, labels = axes[0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    axes[0].legend(uniq.values(), uniq.keys(), fontsize=7)
    return _save(fig, out, "component_stats")


def unfreezing_curve(root: Path, runs: pd.DataFrame, out: Path) -> list[str]:
    gu = runs[runs["method"].isin(["gu", "gu_restart"]) & (runs["status"] == "completed")]
    if gu.empty:
        return []
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for (exp, task, method), g in gu.groupby(["experiment", "task", "method"]):
        curves = []
        for _, r in g.iterrows():
            rec = json.loads((Path(root) / exp / r["run_dir"] / "record.json").read_text()) \
                if (Path(root) / exp).is_dir() else json.loads((Path(root) / r["run_dir"] / "record.json").read_text())
            curves.append([s["metric"] for s in rec.get("stages", [])])
        width = min(len(c) for c in curves)
        arr = 100 * np.array([c[:width] for c in curves])
        ax.errorbar(range(width), arr.mean(0), yerr=arr.std(0), marker="o", capsize=3, label=f"{method} ({task}, {exp})")
    ax.set(xlabel="iteration k (top k+1 layers trained)", ylabel="dev metric (pp)", title="Gradual unfreezing (Figure 1)")
    ax.legend(fontsize=7)
    return _save(fig, out, "gradual_unfreezing")
