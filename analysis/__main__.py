"""``python -m analysis <results dir> --out <dir>``: records -> runs.csv, summary.csv, table1.*, table2.*,
stats.*, churn.csv, figures. ``--from-runs runs.csv`` regenerates everything but the record-based figures
from a runs.csv alone. Outputs are swapped in all at once (analysis/outputs.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import aggregate, baselines, declared, figures, paper, report, tables
from .load import (AnalysisError, Examples, at_last_evaluation, check_last_known, load_runs, pooled_settings,
                   read_examples, read_runs_csv, write_examples)
from .outputs import OutputError, staged


STATS_LEGEND = [
    "- **Mean, Std [seeds]**: 95% BCa bootstrap interval over the runs (`scipy.stats.bootstrap`; Efron 1987).",
    "- **[seeds × dev]**: the multi-bootstrap (Sellam et al. 2022, *The MultiBERTs*): seeds and dev examples "
    "resampled together, so the interval includes the finite dev set; from the stored dev predictions ('–' where a "
    "record has no labels).",
    "- **Failed [Wilson]**: failed runs k/n with the Wilson score interval of the rate (Wilson 1927).",
    "- **Single class**: completed runs that predict one class for every dev example (a collapse, whatever the "
    "metric; '?' when the records do not say).",
    "- **P(A>B) [CI]**: probability that a run of the recipe beats a run of the baseline, ties halved "
    "(common-language effect size, McGraw & Wong 1992; percentile bootstrap interval); Cliff's δ = 2P − 1 "
    "(Cliff 1993).",
    "- **ε_min**: almost stochastic order (Dror et al. 2019; the estimator of `deepsig`): an upper confidence bound of how much "
    "the recipe's distribution violates \"stochastically larger than the baseline's\"; < 0.5: the recipe is almost "
    "stochastically better (0: it dominates); ≥ 0.5: no such claim (with 25 runs, near-equal recipes give ≈ 1 both ways).",
    "- **p BF / MW / Fisher**: Brown–Forsythe test of equal variances (Brown & Forsythe 1974), Mann–Whitney U "
    "(two-sided), Fisher's exact test on failed counts; **p Wilcoxon**: signed-rank test of the runs paired by seed "
    "(same initialisation and data order; Wilcoxon 1945), n pairs in brackets. Each p-value is followed by its "
    "Holm adjustment (Holm 1979) over the experiment's comparisons of that test: raw / Holm.",
]


def stats_markdown(comp: pd.DataFrame, rule: str, names: dict[str, str] | None = None, evaluation: str = "selected") -> str:
    lines = ["# Statistics beyond the paper", "",
             "Each recipe against its experiment's baseline cell, per experiment and task (named above each "
             "comparison: the `baseline` of the declared table that shows the experiment, else `bias_correction`; "
             f"or `--baseline`); metric values in percentage points; {tables.RULE_TEXT[rule]}."
             f"{tables.EVALUATION_TEXT[evaluation]}", "",
             *STATS_LEGEND, ""]

    def p(x):
        return "–" if pd.isna(x) else f"{x:.3g}"

    def ci(lo, hi, scale=100, digits=1):
        return "[–]" if pd.isna(lo) else f"[{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"

    def single(x):
        return "?" if x is None or pd.isna(x) else int(x)

    comp = tables.paper_order(comp)
    labels = {exp: tables.recipe_labels(e) for exp, e in comp.groupby("experiment")}
    for (exp, task), g in comp.groupby(["experiment", "task"], sort=False):
        lines += [f"## {exp} — {paper.task_label(task, names)}", "",
                  "| Recipe | n | Mean | [seeds] | [seeds × dev] | Std | [seeds] | [seeds × dev] | Failed | [Wilson, %] "
                  "| Single class |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in g.iterrows():
            lines.append(f"| {tables.recipe_label(r['method'], r['params'], labels[exp])} | {r['n']} | {tables.pp(r['mean'])} | "
                         f"{ci(r['mean_ci_low'], r['mean_ci_high'])} | {ci(r['mean_mb_low'], r['mean_mb_high'])} | "
                         f"{tables.pp(r['std'])} | {ci(r['std_ci_low'], r['std_ci_high'])} | "
                         f"{ci(r['std_mb_low'], r['std_mb_high'])} | {r['n_failed']}/{r['n']} | "
                         f"{ci(r['failed_ci_low'], r['failed_ci_high'])} | {single(r['n_single_class'])}/{r['n']} |")
        others = g[~g["is_baseline"].astype(bool)]
        if len(others) and others["prob_superiority"].notna().any():
            lines += ["", f"Against `{g['baseline'].dropna().iloc[0]}`:", "",
                      "| Recipe | P(A>B) [CI] | Cliff's δ | ε_min | p BF | p MW | p Fisher | p Wilcoxon (pairs) |",
                      "|---|---|---|---|---|---|---|---|"]
            for _, r in others.iterrows():
                lines.append(
                    f"| {tables.recipe_label(r['method'], r['params'], labels[exp])} | {p(r['prob_superiority'])} "
                    f"{ci(r['ps_ci_low'], r['ps_ci_high'], 1, 2)} | {p(r['cliffs_delta'])} | "
                    f"{p(r['aso_epsilon'])} | {p(r['p_brown_forsythe'])} / {p(r['p_brown_forsythe_holm'])} | "
                    f"{p(r['p_mann_whitney'])} / {p(r['p_mann_whitney_holm'])} | "
                    f"{p(r['p_fisher_failed'])} / {p(r['p_fisher_failed_holm'])} | "
                    f"{p(r['p_wilcoxon_paired'])} / {p(r['p_wilcoxon_paired_holm'])} ({r['n_pairs']}) |")
        lines.append("")
    return "\n".join(lines)


def early_markdown(early: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    lines = ["# Early failure detection (Dodge et al. 2020: stop bad seeds early)", "",
             "Rules applied at a fraction f of training — *eval*: the last dev evaluation at or before f is not above "
             "the majority baseline; *loss*: the training loss around f is still ≥ 95% of its first-tenth value. "
             "Precision and recall of \"will fail\" against the run's final outcome (all recipes of the task pooled), "
             "and the training hours saved by stopping the predicted runs at f.", "",
             "| Experiment | Task | Rule | f | runs | failed | predicted | precision | recall | hours saved "
             "| good runs stopped |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in early.iterrows():
        fmt = lambda x: "–" if pd.isna(x) else f"{x:.2f}"  # noqa: E731
        lines.append(f"| {r['experiment']} | {paper.task_label(r['task'], names)} | {r['rule']} | {r['fraction']:.2f} | {r['n_runs']} | "
                     f"{r['n_failed']} | {r['n_predicted']} | {fmt(r['precision'])} | {fmt(r['recall'])} | "
                     f"{r['hours_saved']:.3f} | {r['good_runs_stopped']} |")
    return "\n".join(lines) + "\n"


def churn_markdown(ch: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    """Per experiment: recipes x tasks, the churn in % of the dev set with its interval (cells without one: out),
    then each recipe's difference from its baseline's churn with the paired test."""
    ch = tables.paper_order(ch[ch["churn"].notna()])
    lines = ["# Prediction churn", "",
             "How often two runs of a recipe predict different labels for the same dev example: the share of the dev "
             "set, averaged over every pair of runs, in %, with a 95% interval from the jackknife over runs (seeds "
             "only; Milani Fard et al. 2016; Summers & Dinneen 2021). Runs with equal metrics can disagree on many "
             "examples, so a low Std is not agreement. Cells whose runs' predictions are not all stored (with "
             "`--evaluation last`: are another evaluation's) are left out. Against the baseline: the recipe's churn "
             "minus the baseline's, in percentage points, with its 95% interval and p-value (raw / Holm over the "
             "experiment's comparisons) from the jackknife over seeds, paired (a seed left out of both recipes).", ""]

    def table(e, tasks, labels, cell):
        rows = []
        for (method, params), r in e.groupby(["method", "params"], sort=False):
            cells = [cell(r[r["task"] == t].iloc[0]) if (r["task"] == t).any() else "" for t in tasks]
            if any(cells):
                rows.append(f"| {tables.recipe_label(method, params, labels)} | " + " | ".join(cells) + " |")
        return ["| Recipe | " + " | ".join(paper.task_label(t, names) for t in tasks) + " |", "|---|" + "---|" * len(tasks),
                *rows] if rows else []

    def level(x):
        ci = "" if pd.isna(x["churn_ci_low"]) else f" [{100 * x['churn_ci_low']:.1f}, {100 * x['churn_ci_high']:.1f}]"
        return f"{100 * x['churn']:.1f}{ci}"

    def versus(x):
        if pd.isna(x["p_churn"]):
            return ""
        p = f"p {x['p_churn']:.2g} / {x['p_churn_holm']:.2g}"
        return f"{100 * x['churn_diff']:+.1f} [{100 * x['churn_diff_ci_low']:+.1f}, {100 * x['churn_diff_ci_high']:+.1f}], {p}"

    for exp, e in ch.groupby("experiment", sort=False):
        tasks, labels = tables._tasks(e), tables.recipe_labels(e)
        lines += [f"## {exp} — prediction churn", "", *table(e, tasks, labels, level), ""]
        against = table(e, tasks, labels, versus)
        if against:
            named = ", ".join(f"`{b}`" for b in dict.fromkeys(e.loc[e["p_churn"].notna(), "baseline"]))
            lines += [f"Against {named}:", "", *against, ""]
    return "\n".join(lines)


def seed_variance_markdown(split: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    lines = ["# Weight initialisation vs data order (Dodge et al. 2020)", "",
             "Variance of the dev metric (pp²) over an init_seed × data_seed grid: the variance of the per-init-seed "
             "means, of the per-data-seed means, and the rest (interaction and noise).", "",
             "| Experiment | Task | Recipe | grid | var total | var init | var data | rest | init share | data share |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    labels = tables.recipe_labels(split)
    for _, r in split.iterrows():
        grid = f"{r['n_init']}×{r['n_data']}" + ("" if r["complete_grid"] else " (incomplete)")
        lines.append(f"| {r['experiment']} | {paper.task_label(r['task'], names)} | {tables.recipe_label(r['method'], r['params'], labels)} | {grid} | "
                     f"{r['var_total']:.2f} | {r['var_init']:.2f} | {r['var_data']:.2f} | {r['var_rest']:.2f} | "
                     f"{r['share_init']:.0%} | {r['share_data']:.0%} |")
    return "\n".join(lines) + "\n"


def analyse(runs: pd.DataFrame, out: Path, rule: str, ddof: int, baseline: dict | None, root: Path | None,
            make_figures: bool = True, n_resamples: int = 9999, examples: Examples | None = None,
            aso: bool = True, extra_tables: Path | None = None, evaluation: str = "selected") -> dict[str, list[str]]:
    """``baseline``: ``baselines.choose``'s answer; None: the declared tables' baselines. ``evaluation``:
    ``last`` scores every run at its last dev evaluation (``at_last_evaluation``); runs.csv and the files
    beside it stay as recorded, so that ``--from-runs`` can score them either way."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    runs.to_csv(out / "runs.csv", index=False)
    if examples is not None:
        write_examples(examples, out)
    if evaluation == "last":
        runs, examples = at_last_evaluation(runs, examples)
    summary = aggregate.summarize(runs, rule, ddof)
    summary.to_csv(out / "summary.csv", index=False)
    specs = declared.load_specs(extra_tables)
    if baseline is None:
        baseline = baselines.choose(runs, None, declared.baselines_by_experiment(summary, specs))
    for spec in specs:
        md, tex, csv = tables.render(spec, declared.select(summary, spec, specs), rule, ddof, evaluation)
        if md:
            (out / f"{spec.name}.md").write_text(md)
            (out / f"{spec.name}.tex").write_text(tex)
            csv.to_csv(out / f"{spec.name}.csv", index=False)
    comp = aggregate.compare(runs, baseline, rule, ddof, n_resamples, examples, aso)
    comp.to_csv(out / "stats.csv", index=False)
    split = aggregate.seed_variance(runs)
    names = paper.recorded_task_labels(runs)
    text = stats_markdown(comp, rule, names, evaluation)
    ch = aggregate.churn(runs, examples, baseline)
    if not ch.empty and ch["churn"].notna().any():  # else no run's predictions are stored
        ch.to_csv(out / "churn.csv", index=False)
        text += "\n" + churn_markdown(ch, names)
    if not split.empty:
        split.to_csv(out / "seed_variance.csv", index=False)
        text += "\n" + seed_variance_markdown(split, names)
    early = aggregate.early_detection(runs, examples, rule)
    if not early.empty:
        early.to_csv(out / "early_detection.csv", index=False)
        text += "\n" + early_markdown(early, names)
    (out / "stats.md").write_text(text)
    emax = aggregate.expected_max_table(runs)
    emax.to_csv(out / "expected_max.csv", index=False)
    written["tables"] = sorted(p.name for p in out.glob("*.*") if p.suffix in (".csv", ".md", ".tex"))
    figs: list[str] = []
    if make_figures:
        figs = figures.strip_box(runs, out, rule)
        figs += sum((figures.param_curve(spec, declared.select(summary, spec, specs), runs, out)
                     for spec in specs if spec.param), [])
        figs += figures.expected_max_curves(emax, out, names) + figures.early_detection_curves(early, out, names)
        if root is not None:
            figs += figures.component_figures(runs, root, out, rule) + figures.unfreezing_curve(root, runs, out)
        written["figures"] = figs
    written["report"] = [report.write(out, runs, text, figs)]
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis", description=" ".join(__doc__.split()))  # the docstring, whole
    ap.add_argument("results", nargs="?", type=Path, help="a results_dir or one experiment directory")
    ap.add_argument("--from-runs", type=Path, help="regenerate from a runs.csv instead of records")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--rule", choices=("majority", "fixed"), default="majority",
                    help="failed-run rule: majority baseline from dev labels (default) or the authors' fixed thresholds")
    ap.add_argument("--std", choices=("population", "sample"), default="population",
                    help="population std (ddof=0, the authors' numpy default) or sample std (ddof=1)")
    ap.add_argument("--baseline", action="append", metavar="[EXPERIMENT/]RECIPE[,KEY=VALUE...]",
                    help="the cell the statistical tests compare against (repeatable: per experiment and task, the "
                    "first that names one cell there; default: the declared tables' baseline, else "
                    f"{baselines.DEFAULT}; analysis/baselines.py)")
    ap.add_argument("--no-figures", action="store_true", help="write no figures (PNG + PDF)")
    ap.add_argument("--tables", type=Path, help="a directory of more table declarations (<name>.yaml; see analysis/declared.py)")
    ap.add_argument("--no-aso", action="store_true", help="skip almost stochastic order")
    ap.add_argument("--evaluation", choices=("selected", "last"), default="selected",
                    help="each run's result: the dev evaluation its recipe reports (default: the last one, the best "
                    "for train.select=best recipes such as Mosbach et al.'s) or its last one (separates a recipe's "
                    "training from its selection on the dev set)")
    ap.add_argument("--glue-dir", default=os.environ.get("STABILITY_BENCH_GLUE_DIR"),
                    help="dev labels for records older than their dev_labels field (default: $STABILITY_BENCH_GLUE_DIR)")
    args = ap.parse_args(argv)
    if (args.results is None) == (args.from_runs is None):
        ap.error("give a results directory or --from-runs runs.csv (one of them)")
    t0 = time.time()
    try:
        if args.from_runs is not None:
            if not args.from_runs.is_file():
                raise AnalysisError(f"{args.from_runs} is not a file")
            runs, skipped = read_runs_csv(args.from_runs), []
            examples = read_examples(args.from_runs)
        else:
            examples = Examples()
            runs, skipped = load_runs(args.results, examples, args.glue_dir)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if runs.empty:
        print("error: no usable records", file=sys.stderr)
        return 2
    try:  # checked before anything is written: the table declarations and the baselines named here
        declared.load_specs(args.tables)
        chosen = baselines.choose(runs, args.baseline) if args.baseline else None  # None: the tables' (analyse)
        if args.evaluation == "last":
            check_last_known(runs)
    except (AnalysisError, declared.TableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in pooled_settings(runs):
        print(f"warning: {line}", file=sys.stderr)
    try:
        with staged(args.out) as stage:
            if skipped:
                pd.DataFrame(skipped, columns=["file", "reason"]).to_csv(stage / "skipped.csv", index=False)
            written = analyse(runs, stage, args.rule, 0 if args.std == "population" else 1, chosen,
                              args.results, not args.no_figures, examples=examples, aso=not args.no_aso,
                              extra_tables=args.tables, evaluation=args.evaluation)
    except (OutputError, declared.TableError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    counts = runs["status"].value_counts().to_dict()
    print(f"{len(runs)} runs ({', '.join(f'{v} {k}' for k, v in counts.items())}); {len(skipped)} files skipped; "
          f"wrote {len(sum(written.values(), []))} files to {args.out} in {time.time() - t0:.1f}s")
    reused = runs["reused_from"].dropna() if "reused_from" in runs else []
    if len(reused):
        sources = sorted({str(r).split("/")[0] for r in reused})
        print(f"note: {len(reused)} runs are copies of runs of {', '.join(sources)} (hydra.sweeper.reuse; "
              "runs.csv's reused_from names each one's original)")
    if counts.get("running"):
        # records copied from a GPU host or a killed job still say running; only the status command asks
        print(f"note: {counts['running']} records say running, as written; python -m stability_bench.status "
              "<results dir> tells which are alive and which were cut off (interrupted: a sweep re-runs those)")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
