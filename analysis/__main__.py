"""``python -m analysis <results dir> --out <dir>``: records -> runs.csv, summary.csv, table1.*, table2.*,
stats.*, figures. ``--from-runs runs.csv`` regenerates everything but the record-based figures
from a runs.csv alone. Outputs are swapped in all at once (analysis/outputs.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import aggregate, figures, tables
from .load import AnalysisError, load_runs, mixed_precision, read_runs_csv
from .outputs import OutputError, staged


def stats_markdown(comp: pd.DataFrame, baseline: str, rule: str) -> str:
    lines = [f"# Statistics beyond the paper", "",
             f"Each recipe against the baseline recipe `{baseline}`, per experiment and task. Mean and Std in "
             "percentage points with 95% percentile-bootstrap intervals (10,000 resamples); p-values: Brown–Forsythe "
             "(equal variances), Mann–Whitney U (two-sided), Fisher's exact test on failed-run counts "
             f"({tables.RULE_TEXT[rule]}). Single class: completed runs that predict the same class for every dev "
             "example (a collapse to a constant classifier; '?' when the records do not say).", ""]

    def p(x):
        return "–" if pd.isna(x) else f"{x:.3g}"

    def single(x):
        return "?" if x is None or pd.isna(x) else int(x)

    for (exp, task), g in comp.groupby(["experiment", "task"], sort=True):
        lines += [f"## {exp} — {task}", "",
                  "| Recipe | n | Mean [95% CI] | Std [95% CI] | Failed | Single class | p Brown–Forsythe | p Mann–Whitney "
                  "| p Fisher |", "|---|---|---|---|---|---|---|---|---|"]
        for _, r in g.iterrows():
            lines.append(f"| {tables.recipe_label(r['method'], r['params'])} | {r['n']} | "
                         f"{tables.pp(r['mean'])} [{tables.pp(r['mean_ci_low'])}, {tables.pp(r['mean_ci_high'])}] | "
                         f"{tables.pp(r['std'])} [{tables.pp(r['std_ci_low'])}, {tables.pp(r['std_ci_high'])}] | "
                         f"{r['n_failed']}/{r['n']} | {single(r['n_single_class'])}/{r['n']} | "
                         f"{p(r['p_brown_forsythe'])} | {p(r['p_mann_whitney'])} | "
                         f"{p(r['p_fisher_failed'])} |")
        lines.append("")
    return "\n".join(lines)


def seed_variance_markdown(split: pd.DataFrame) -> str:
    lines = ["# Weight initialisation vs data order (Dodge et al. 2020)", "",
             "Variance of the dev metric (pp²) over an init_seed × data_seed grid: the variance of the per-init-seed "
             "means, of the per-data-seed means, and the rest (interaction and noise).", "",
             "| Experiment | Task | Recipe | grid | var total | var init | var data | rest | init share | data share |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in split.iterrows():
        grid = f"{r['n_init']}×{r['n_data']}" + ("" if r["complete_grid"] else " (incomplete)")
        lines.append(f"| {r['experiment']} | {r['task']} | {tables.recipe_label(r['method'], r['params'])} | {grid} | "
                     f"{r['var_total']:.2f} | {r['var_init']:.2f} | {r['var_data']:.2f} | {r['var_rest']:.2f} | "
                     f"{r['share_init']:.0%} | {r['share_data']:.0%} |")
    return "\n".join(lines) + "\n"


def analyse(runs: pd.DataFrame, out: Path, rule: str, ddof: int, baseline: str, root: Path | None,
            make_figures: bool = True, n_resamples: int = 10000) -> dict[str, list[str]]:
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    runs.to_csv(out / "runs.csv", index=False)
    summary = aggregate.summarize(runs, rule, ddof)
    summary.to_csv(out / "summary.csv", index=False)
    md1, tex1 = tables.render_table1(summary, rule, ddof)
    (out / "table1.md").write_text(md1)
    (out / "table1.tex").write_text(tex1)
    tables.table1_long(summary).to_csv(out / "table1.csv", index=False)
    md2, tex2, t2 = tables.render_table2(summary, rule)
    if not t2.empty:
        (out / "table2.md").write_text(md2)
        (out / "table2.tex").write_text(tex2)
        t2.to_csv(out / "table2.csv", index=False)
    comp = aggregate.compare(runs, baseline, rule, ddof, n_resamples)
    comp.to_csv(out / "stats.csv", index=False)
    split = aggregate.seed_variance(runs)
    text = stats_markdown(comp, baseline, rule)
    if not split.empty:
        split.to_csv(out / "seed_variance.csv", index=False)
        text += "\n" + seed_variance_markdown(split)
    (out / "stats.md").write_text(text)
    emax = aggregate.expected_max_table(runs)
    emax.to_csv(out / "expected_max.csv", index=False)
    written["tables"] = sorted(p.name for p in out.glob("*.*") if p.suffix in (".csv", ".md", ".tex"))
    if make_figures:
        figs = figures.strip_box(runs, out, rule) + figures.threshold_curve(summary, runs, out)
        figs += figures.expected_max_curves(emax, out)
        if root is not None:
            figs += figures.component_figures(runs, root, out, rule) + figures.unfreezing_curve(root, runs, out)
        written["figures"] = figs
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", type=Path, help="a results_dir or one experiment directory")
    ap.add_argument("--from-runs", type=Path, help="regenerate from a runs.csv instead of records")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--rule", choices=("majority", "fixed"), default="majority",
                    help="failed-run rule: majority baseline from dev labels (default) or the authors' fixed thresholds")
    ap.add_argument("--std", choices=("population", "sample"), default="population",
                    help="population std (ddof=0, the authors' numpy default) or sample std (ddof=1)")
    ap.add_argument("--baseline", default="bias_correction", help="recipe the statistical tests compare against")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args(argv)
    if (args.results is None) == (args.from_runs is None):
        ap.error("give a results directory or --from-runs runs.csv (one of them)")
    t0 = time.time()
    try:
        if args.from_runs is not None:
            if not args.from_runs.is_file():
                raise AnalysisError(f"{args.from_runs} is not a file")
            runs, skipped = read_runs_csv(args.from_runs), []
        else:
            runs, skipped = load_runs(args.results)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if runs.empty:
        print("error: no usable records", file=sys.stderr)
        return 2
    for line in mixed_precision(runs):
        print(f"warning: {line}", file=sys.stderr)
    try:
        with staged(args.out) as stage:
            if skipped:
                pd.DataFrame(skipped, columns=["file", "reason"]).to_csv(stage / "skipped.csv", index=False)
            written = analyse(runs, stage, args.rule, 0 if args.std == "population" else 1, args.baseline,
                              args.results, not args.no_figures)
    except (OutputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    counts = runs["status"].value_counts().to_dict()
    print(f"{len(runs)} runs ({', '.join(f'{v} {k}' for k, v in counts.items())}); {len(skipped)} files skipped; "
          f"wrote {len(sum(written.values(), []))} files to {args.out} in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
