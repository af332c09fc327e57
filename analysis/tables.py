"""Rendering Table 1 (recipes x tasks) and Table 2 (CWGNC thresholds on CoLA) as Markdown, LaTeX
(booktabs) and CSV, in percentage points with one decimal, with the paper's values beside ours."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from stability_bench.records import method_dirname

from . import paper

RULE_TEXT = {"majority": "failed = metric <= majority-class baseline on dev (RTE acc 52.7, MRPC F1 81.2, CoLA MCC 0)",
             "fixed": "failed = metric <= the authors' fixed thresholds (RTE 0.53, MRPC 0.75, CoLA 0)"}
NO_CLIP = 1e4  # thresholds at or above this never clip in practice


def pp(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def signed(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{round(x, 1) + 0.0:+.1f}"  # + 0.0 turns -0.0 into 0.0


EXTRA_NAMES = {
    "cwgnc_script": "CWGNC (authors' script settings)", "gu": "GU", "gu_restart": "GU (restart)",
    "reinit": "Re-init top layers (Zhang et al. 2021)", "llrd": "Layer-wise LR decay (Zhang et al. 2021)",
    "mhloss": "MHLoss (Fu et al. 2023)", "mmr": "MMR (Fu et al. 2023)", "surt": "SURT (Fu et al. 2023)",
}
CONF_METHODS = Path(__file__).resolve().parent.parent / "conf" / "method"


@lru_cache(maxsize=None)
def default_params(method: str) -> str:
    """The params part of the run directory name of a recipe's config defaults ("" if unknown)."""
    path = CONF_METHODS / f"{method}.yaml"
    if not path.exists():
        return ""
    node = OmegaConf.to_container(OmegaConf.load(path).get("method", {}))
    name = node.pop("name", method)
    return method_dirname(name, node).partition(",")[2]


def recipe_label(method: str, params: str) -> str:
    """The recipe's table name; params other than its config defaults are shown in brackets."""
    name = paper.ROW_NAMES.get(method) or EXTRA_NAMES.get(method, method)
    return name if params in ("", default_params(method)) else f"{name} [{params}]"


def paper_order(df: pd.DataFrame) -> pd.DataFrame:
    """Experiments alphabetically, then tasks and recipes in the paper's order (others after, alphabetically)."""
    tasks = {t: i for i, t in enumerate(paper.TASK_ORDER)}
    recipes = {m: i for i, m in enumerate(paper.TABLE1_METHODS)}
    key = df.assign(_t=df["task"].map(lambda t: (tasks.get(t, len(tasks)), t)),
                    _m=df["method"].map(lambda m: (recipes.get(m, len(recipes)), m)))
    return key.sort_values(["experiment", "_t", "_m", "params"], kind="stable").drop(columns=["_t", "_m"])


def _order(summary: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(paper.TABLE1_METHODS)}
    s = summary.copy()
    s["_rank"] = s["method"].map(lambda m: rank.get(m, len(rank)))
    return s.sort_values(["experiment", "_rank", "method", "params"]).drop(columns="_rank")


def threshold_sweeps(summary: pd.DataFrame) -> set[str]:
    """Experiments that hold nothing but a CWGNC threshold sweep on CoLA: Table 2 shows them, not Table 1."""
    t2 = set(table2_rows(summary)["experiment"])
    return {exp for exp, e in summary.groupby("experiment") if exp in t2
            and (e["method"] == "cwgnc").all() and (e["task"] == "cola").all()}


def table1_long(summary: pd.DataFrame) -> pd.DataFrame:
    """Long form: one row per (experiment, recipe, task, source) with source ours | paper | diff."""
    rows = []
    summary = summary[~summary["experiment"].isin(threshold_sweeps(summary))]
    for _, r in _order(summary).iterrows():
        ours = (100 * r["std"], 100 * r["mean"], 100 * r["max"])
        base = {"experiment": r["experiment"], "model": r["model"], "method": r["method"], "params": r["params"],
                "recipe": recipe_label(r["method"], r["params"]), "task": r["task"]}
        counts = {"n_failed": r["n_failed"], "n_completed": r["n_completed"], "n_declared": r["n_declared"],
                  "n_crashed": r["n_crashed"], "n_diverged": r["n_diverged"],
                  "n_missing": r["n_missing"] + r["n_running"] + r["n_interrupted"]}
        rows.append({**base, "source": "ours", "std": ours[0], "mean": ours[1], "max": ours[2], **counts})
        published = paper.TABLE1.get(r["method"], {}).get(r["task"])
        if published and "[" not in base["recipe"]:  # the paper's numbers are for the default params only
            rows.append({**base, "source": "paper", "std": published[0], "mean": published[1], "max": published[2]})
            rows.append({**base, "source": "diff", **{k: o - p for k, o, p in zip(("std", "mean", "max"), ours, published)}})
    return pd.DataFrame(rows)


def _fmt(v, source):
    return signed(v) if source == "diff" else ("–" if pd.isna(v) else f"{v:.1f}")


def _failed_cell(r) -> str:
    if r["source"] != "ours":
        return ""
    cell = f"{int(r['n_failed'])}/{int(r['n_completed'])}"
    if r["n_completed"] < r["n_declared"]:
        cell += f" (of {int(r['n_declared'])})"
    return cell


def render_table1(summary: pd.DataFrame, rule: str, ddof: int) -> tuple[str, str]:
    """(markdown, latex) of every experiment's recipes x tasks table."""
    long = table1_long(summary)
    md, tex = [], []
    for exp, e in long.groupby("experiment", sort=True):
        tasks = [t for t in paper.TASK_ORDER if t in set(e["task"])] + sorted(set(e["task"]) - set(paper.TASK_ORDER))
        model = e["model"].iloc[0]
        md += [f"### Table 1 — experiment `{exp}` (model `{model}`)", "",
               f"Std / Mean / Max of the dev metric in percentage points over completed runs; Std: "
               f"{'population (ddof=0, as the authors)' if ddof == 0 else 'sample (ddof=1)'}; "
               f"{RULE_TEXT[rule]}. Rows 'paper': {paper.SOURCE} (bert-large-uncased, 25 runs); 'diff' = ours − paper.", ""]
        head = "| Recipe | | " + " | ".join(f"{paper.TASK_NAMES.get(t, t)} Std | Mean | Max | Failed" for t in tasks) + " |"
        md += [head, "|" + "---|" * (2 + 4 * len(tasks))]
        tex += [f"% Table 1, experiment {exp} (model {model}); {RULE_TEXT[rule]}",
                "\\begin{tabular}{ll" + "rrrr" * len(tasks) + "}", "\\toprule",
                "Recipe & & " + " & ".join(f"\\multicolumn{{4}}{{c}}{{{paper.TASK_NAMES.get(t, t)}}}" for t in tasks) + " \\\\",
                " & & " + " & ".join("Std & Mean & Max & Failed" for _ in tasks) + " \\\\", "\\midrule"]
        notes = []
        for (recipe,), rg in e.groupby(["recipe"], sort=False):
            for source in ("ours", "paper", "diff"):
                sg = rg[rg["source"] == source]
                if sg.empty:
                    continue
                cells = []
                for t in tasks:
                    tr = sg[sg["task"] == t]
                    if tr.empty:
                        cells += ["", "", "", ""]
                        continue
                    r = tr.iloc[0]
                    cells += [_fmt(r["std"], source), _fmt(r["mean"], source), _fmt(r["max"], source), _failed_cell(r)]
                    if source == "ours":
                        left = [f"{int(r[k])} {k[2:]}" for k in ("n_crashed", "n_diverged", "n_missing") if r[k]]
                        if left:
                            notes.append(f"{recipe}, {t}: {', '.join(left)} (not in the statistics, never counted as failed)")
                label = recipe if source == "ours" else ""
                md.append(f"| {label} | {source} | " + " | ".join(cells) + " |")
                tex_label = label.replace("&", r"\&")
                tex.append(f"{tex_label} & {source} & " + " & ".join(cells).replace("–", "--") + r" \\")
        tex += ["\\bottomrule", "\\end{tabular}", ""]
        md += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    return "\n".join(md), "\n".join(tex)


def table2_rows(summary: pd.DataFrame) -> pd.DataFrame:
    s = summary[(summary["method"] == "cwgnc") & (summary["task"] == "cola") & summary["threshold"].notna()]
    s = s[s.groupby("experiment")["threshold"].transform("nunique") > 1]
    return s.sort_values(["experiment", "threshold"])


def render_table2(summary: pd.DataFrame, rule: str) -> tuple[str, str, pd.DataFrame]:
    rows = table2_rows(summary)
    md, tex, out = [], [], []
    for exp, e in rows.groupby("experiment", sort=True):
        md += [f"### Table 2 — CWGNC threshold on CoLA, experiment `{exp}` (model `{e['model'].iloc[0]}`)", "",
               f"MCC in percentage points; {RULE_TEXT[rule]}. {paper.TABLE2_CLAIM}", "",
               "| Threshold | Std | Mean | Max | Failed | Runs |", "|---|---|---|---|---|---|"]
        tex += [f"% Table 2, experiment {exp}", "\\begin{tabular}{lrrrrr}", "\\toprule",
                "Threshold & Std & Mean & Max & Failed & Runs \\\\", "\\midrule"]
        for _, r in e.iterrows():
            thr = f"{r['threshold']:g}" + (" (no clipping)" if r["threshold"] >= NO_CLIP else "")
            failed = f"{int(r['n_failed'])}/{int(r['n_completed'])}"
            runs = f"{int(r['n_completed'])}/{int(r['n_declared'])}"
            md.append(f"| {thr} | {pp(r['std'])} | {pp(r['mean'])} | {pp(r['max'])} | {failed} | {runs} |")
            tex.append(f"{thr} & {pp(r['std'])} & {pp(r['mean'])} & {pp(r['max'])} & {failed} & {runs} \\\\".replace("–", "--"))
            out.append({"experiment": exp, "model": r["model"], "threshold": r["threshold"], "std": 100 * r["std"],
                        "mean": 100 * r["mean"], "max": 100 * r["max"], "n_failed": r["n_failed"],
                        "n_completed": r["n_completed"], "n_declared": r["n_declared"]})
        md.append("")
        tex += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(md), "\n".join(tex), pd.DataFrame(out)
