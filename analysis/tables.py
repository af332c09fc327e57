"""Rendering any declared table (``analysis/declared.py``) as Markdown, LaTeX (booktabs) and CSV, in percentage
points with one decimal, with the declaration's published numbers beside ours.

Rows are recipes (with a ``paper`` and a ``diff`` row under each recipe the declaration has numbers for) or
the values of one recipe parameter; columns are the tasks, each with Std, Mean, Max and Failed, and, for a
parameter table, Runs (completed of declared).
"""

from __future__ import annotations

import math

import pandas as pd

from . import paper
from .declared import TableSpec

RULE_TEXT = {"majority": "failed = metric <= majority-class baseline on dev (RTE acc 52.7, MRPC F1 81.2, CoLA MCC 0)",
             "fixed": "failed = metric <= the authors' fixed thresholds (RTE 0.53, MRPC 0.75, CoLA 0)"}
STD_TEXT = {0: "population (ddof=0, as the authors)", 1: "sample (ddof=1)"}
EVALUATION_TEXT = {"selected": "", "last": " Each run at its last dev evaluation (`--evaluation last`), also where "
                   "its recipe reports another (train.select=best: Mosbach et al.'s best of all evaluations)."}

# Display names for records written before presets declared their label (method.label in conf/method/*.yaml).
NAMES = {
    "devlin": "Devlin et al. (2019)", "bias_correction": "+ bias correction", "mixout": "Lee et al. (2019) (Mixout)",
    "mosbach": "Mosbach et al. (2020)", "cwgnc": "CWGNC", "cwgnc_script": "CWGNC (authors' script settings)",
    "gu": "GU", "gu_restart": "GU (restart)", "reinit": "Re-init top layers (Zhang et al. 2021)",
    "llrd": "Layer-wise LR decay (Zhang et al. 2021)", "mhloss": "MHLoss (Fu et al. 2023)",
    "mmr": "MMR (Fu et al. 2023)", "surt": "SURT (Fu et al. 2023)",
}
ORDER = ("devlin", "bias_correction", "mixout", "mosbach", "cwgnc")  # the paper's row order; others after


def pp(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def signed(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{round(x, 1) + 0.0:+.1f}"  # + 0.0 turns -0.0 into 0.0


def recipe_labels(df: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The name of each (method, params) in ``df`` (its preset's label as recorded); a preset run with several
    parameter sets shows them."""
    cols = ["method", "params"] + (["label"] if "label" in df else [])
    pairs = df[cols].drop_duplicates(["method", "params"])
    several = pairs.groupby("method")["params"].transform("nunique") > 1
    names = pairs["label"] if "label" in pairs else pd.Series([None] * len(pairs), index=pairs.index)
    out = {}
    for m, p, name, many in zip(pairs["method"], pairs["params"], names, several):
        name = name if isinstance(name, str) and name else NAMES.get(m, m)
        out[(m, p)] = f"{name} [{p}]" if many else name
    return out


def recipe_label(method: str, params: str, labels: dict | None = None) -> str:
    return (labels or {}).get((method, params), NAMES.get(method, method))


def params_key(params) -> tuple:
    """Sort key of a params string: numbers by value (threshold=5 before threshold=100000), other values as text."""
    def value(v: str):
        try:
            return (0, float(v), "")
        except ValueError:
            return (1, 0.0, v)
    return tuple((k, value(v)) for k, _, v in (p.partition("=") for p in str(params).split(",") if p))


def paper_order(df: pd.DataFrame) -> pd.DataFrame:
    """Experiments alphabetically, then tasks and recipes in the paper's order (others after, alphabetically),
    then the recipe's params, numbers by value."""
    tasks = {t: i for i, t in enumerate(paper.TASK_ORDER)}
    recipes = {m: i for i, m in enumerate(ORDER)}
    key = df.assign(_t=df["task"].map(lambda t: (tasks.get(t, len(tasks)), t)),
                    _m=df["method"].map(lambda m: (recipes.get(m, len(recipes)), m)), _p=df["params"].map(params_key))
    return key.sort_values(["experiment", "_t", "_m", "_p"], kind="stable").drop(columns=["_t", "_m", "_p"])


def _tasks(e: pd.DataFrame) -> list[str]:
    return [t for t in paper.TASK_ORDER if t in set(e["task"])] + sorted(set(e["task"]) - set(paper.TASK_ORDER))


def _value(spec: TableSpec, v) -> str:
    note = next((n["note"] for n in sorted(spec.value_notes, key=lambda n: -n["at_least"]) if v >= n["at_least"]), "")
    return f"{v:g}{note}" if isinstance(v, float) else f"{v}{note}"


def long_form(spec: TableSpec, s: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, row, task, source): source ours, and for recipes the paper has, paper and diff."""
    out = []
    rank = {m: i for i, m in enumerate(ORDER)}
    for exp, e in s.groupby("experiment", sort=True):
        labels = recipe_labels(e)
        if spec.param:
            e = e.sort_values(spec.param, kind="stable")
        else:
            e = e.assign(_r=e["method"].map(lambda m: rank.get(m, len(rank)))).sort_values(
                ["_r", "method", "params"], kind="stable").drop(columns="_r")
        for _, r in e.iterrows():
            row = _value(spec, r[spec.param]) if spec.param else recipe_label(r["method"], r["params"], labels)
            base = {"experiment": exp, "model": r["model"], "method": r["method"], "params": r["params"],
                    "row": row, "task": r["task"], "selected_on": r["selected_on"]}
            if spec.param:
                base[spec.param] = r[spec.param]
            ours = (100 * r["std"], 100 * r["mean"], 100 * r["max"])
            counts = {k: r[k] for k in ("n_failed", "n_completed", "n_declared", "n_crashed", "n_diverged")}
            counts["n_missing"] = r["n_missing"] + r["n_running"] + r["n_interrupted"]
            out.append({**base, "source": "ours", "std": ours[0], "mean": ours[1], "max": ours[2], **counts})
            published = None if spec.param else spec.paper_row(r["method"], r["params"], r["task"])
            if published:
                out.append({**base, "source": "paper", "std": published[0], "mean": published[1], "max": published[2]})
                out.append({**base, "source": "diff",
                            **{k: o - p for k, o, p in zip(("std", "mean", "max"), ours, published)}})
    return pd.DataFrame(out)


def _fmt(v, source):
    return signed(v) if source == "diff" else ("–" if pd.isna(v) else f"{v:.1f}")


def _failed(r) -> str:
    if r["source"] != "ours":
        return ""
    cell = f"{int(r['n_failed'])}/{int(r['n_completed'])}"
    if r["n_completed"] < r["n_declared"] and not r.get("_runs_column"):
        cell += f" (of {int(r['n_declared'])})"
    return cell


SELECTION_TEXT = {
    "dev": "each run reports the best of its dev evaluations, chosen on the dev set it is scored on: an optimistic "
           "selection (`--evaluation last` scores each run's last)",
    "heldout": "each run reports the dev score of its evaluation that was best on training examples held out from "
               "training (data.heldout_fraction)",
}


def selection_notes(e: pd.DataFrame) -> list[str]:
    """One note per row whose runs report an evaluation other than their last (train.select=best)."""
    notes = []
    for row, rg in e[e["source"] == "ours"].groupby("row", sort=False):
        on = {x for v in rg["selected_on"].dropna() for x in str(v).split(",")}
        notes += [f"{row}: {SELECTION_TEXT[k]}" for k in ("dev", "heldout") if k in on]
    return notes


def render(spec: TableSpec, s: pd.DataFrame, rule: str, ddof: int,
           evaluation: str = "selected") -> tuple[str, str, pd.DataFrame]:
    """(markdown, latex, csv frame) of one declared table over the summary rows ``s`` it shows."""
    long = long_form(spec, s)
    md, tex = [], []
    if long.empty:
        return "", "", long
    has_paper = (long["source"] == "paper").any() or (not spec.param and bool(spec.paper))
    names = paper.recorded_task_labels(s)
    for exp, e in long.groupby("experiment", sort=True):
        tasks = _tasks(e)
        fill = {"experiment": exp, "model": e["model"].iloc[0], "rule": RULE_TEXT[rule], "std": STD_TEXT[ddof]}
        caption = spec.caption.format(**fill) + EVALUATION_TEXT[evaluation]
        if has_paper:
            caption += f" Rows 'paper': {spec.paper['source']}; 'diff' = ours − paper."
        md += [f"### {spec.title.format(**fill)}", "", caption, ""]
        per_task = ["Std", "Mean", "Max", "Failed"] + (["Runs"] if spec.param else [])
        named = len(tasks) > 1 or not spec.param
        head_cells = [f"{paper.task_label(t, names)} {per_task[0]}" if named else per_task[0] for t in tasks]
        head = f"| {spec.row_header} |" + (" |" if has_paper else "") + "".join(
            f" {h} | " + " | ".join(per_task[1:]) + " |" for h in head_cells)
        md += [head, "|" + "---|" * (1 + has_paper + len(per_task) * len(tasks))]
        cols = "l" * (1 + has_paper) + "r" * len(per_task) * len(tasks)
        tex += [f"% {spec.tex_comment.format(**fill)}{EVALUATION_TEXT[evaluation]}", f"\\begin{{tabular}}{{{cols}}}", "\\toprule"]
        if named:
            tex += [f"{spec.row_header} & " + ("& " if has_paper else "") + " & ".join(
                        f"\\multicolumn{{{len(per_task)}}}{{c}}{{{paper.task_label(t, names)}}}" for t in tasks) + " \\\\",
                    " & " + ("& " if has_paper else "") + " & ".join(" & ".join(per_task) for _ in tasks) + " \\\\"]
        else:
            tex.append(f"{spec.row_header} & " + " & ".join(per_task) + " \\\\")
        tex.append("\\midrule")
        notes = [] if evaluation == "last" else selection_notes(e)
        for row, rg in e.groupby("row", sort=False):
            for source in ("ours", "paper", "diff"):
                sg = rg[rg["source"] == source]
                if sg.empty:
                    continue
                cells = []
                for t in tasks:
                    tr = sg[sg["task"] == t]
                    if tr.empty:
                        cells += [""] * len(per_task)
                        continue
                    r = tr.iloc[0].copy()
                    r["_runs_column"] = bool(spec.param)
                    cells += [_fmt(r["std"], source), _fmt(r["mean"], source), _fmt(r["max"], source), _failed(r)]
                    if spec.param:
                        cells.append(f"{int(r['n_completed'])}/{int(r['n_declared'])}")
                    elif source == "ours":
                        left = [f"{int(r[k])} {k[2:]}" for k in ("n_crashed", "n_diverged", "n_missing") if r[k]]
                        if left:
                            notes.append(f"{row}, {t}: {', '.join(left)} (not in the statistics, never counted as failed)")
                label = row if source == "ours" else ""
                md.append(f"| {label} |" + (f" {source} |" if has_paper else "") + "".join(f" {c} |" for c in cells))
                tex.append(label.replace("&", r"\&") + (f" & {source}" if has_paper else "") + " & " +
                           " & ".join(cells).replace("–", "--") + r" \\")
        tex += ["\\bottomrule", "\\end{tabular}", ""]
        md += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    counts = ["n_failed", "n_completed", "n_declared"]
    if spec.param:
        csv = long[["experiment", "model", spec.param, "std", "mean", "max", *counts]].rename(
            columns={spec.param: spec.param.split(".", 1)[1]})
    else:
        csv = long.rename(columns={"row": "recipe"})[["experiment", "model", "method", "params", "recipe", "task", "source",
                                                       "std", "mean", "max", *counts, "n_crashed", "n_diverged", "n_missing"]]
    return "\n".join(md), "\n".join(tex), csv
