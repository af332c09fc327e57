"""Which cell each recipe is compared against in the statistics.

A baseline is written as a run directory's recipe part, ``RECIPE[,KEY=VALUE...]`` — ``bias_correction``,
``cwgnc,threshold=100000`` (the keys given must match, the others may be anything) — optionally prefixed by
another experiment of the same analysis, ``EXPERIMENT/RECIPE[,...]``, to compare against that experiment's cell
of the same task and model (its runs share the seeds, so the paired test still pairs them). For each experiment ×
task × model the first baseline of the list that names exactly one cell there is used; a baseline that names
several (``cwgnc`` in a threshold sweep) is skipped there. Without ``--baseline``, an experiment's list is the
``baseline`` of the declared tables that show it (Table 1: ``bias_correction``; Table 2: its no-clipping
threshold), then ``bias_correction``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .load import AnalysisError

DEFAULT = "bias_correction"  # the paper's Table 1 baseline
FORM = "RECIPE[,KEY=VALUE...] or EXPERIMENT/RECIPE[,KEY=VALUE...]"


@dataclass(frozen=True)
class Spec:
    text: str
    experiment: str | None
    method: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Cell:
    experiment: str
    method: str
    params: str

    def name(self, seen_from: str) -> str:
        """How stats.md and stats.csv name it, from an experiment's point of view."""
        own = ",".join(x for x in (self.method, self.params) if x)
        return own if self.experiment == seen_from else f"{self.experiment}/{own}"


def parse(text: str, what: str = "--baseline") -> Spec:
    experiment, _, rest = text.partition("/") if "/" in text else (None, "", text)  # no experiment name holds a /
    method, *pairs = rest.split(",")
    if not method or experiment == "":
        raise AnalysisError(f"{what} {text} is not of the form {FORM}")
    for pair in pairs:
        if "=" not in pair or pair.startswith("="):
            raise AnalysisError(f"{what} {text}: {pair or 'an empty part'} is not KEY=VALUE; write {FORM}")
    return Spec(text, experiment, method, tuple(tuple(p.split("=", 1)) for p in pairs))


def _same(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)  # threshold=1e5 names the cell threshold=100000
    except ValueError:
        return a == b


def _matches(spec: Spec, params: str) -> bool:
    have = dict(p.split("=", 1) for p in params.split(",") if p)
    return all(k in have and _same(v, have[k]) for k, v in spec.params)


def choose(runs: pd.DataFrame, given: list[str] | None, by_experiment: dict[str, list[str]] | None = None
           ) -> dict[tuple[str, str, str], Cell]:
    """The baseline cell of each (experiment, task, model) that has one. Baselines the user ``given`` must each be
    used somewhere: one that names no cell, or only several at once, is an error (AnalysisError, one line)."""
    cells = runs[["experiment", "task", "model", "method", "params"]].astype(str).drop_duplicates()
    parsed = {t: parse(t) for t in (given or [])}
    used: set[str] = set()
    ambiguous: dict[str, tuple[str, str, pd.DataFrame]] = {}
    chosen: dict[tuple[str, str, str], Cell] = {}
    for (exp, task, model), _ in cells.groupby(["experiment", "task", "model"], sort=True):
        texts = given or [*(by_experiment or {}).get(exp, []), DEFAULT]
        for text in texts:
            spec = parsed.get(text) or parse(text)
            pool = cells[(cells["experiment"] == (spec.experiment or exp)) & (cells["task"] == task)
                         & (cells["model"] == model) & (cells["method"] == spec.method)]
            pool = pool[pool["params"].map(lambda p: _matches(spec, p))]
            if len(pool) == 1:
                chosen[(exp, task, model)] = Cell(pool["experiment"].iloc[0], spec.method, pool["params"].iloc[0])
                used.add(text)
                break
            if len(pool) > 1:
                ambiguous.setdefault(text, (exp, task, pool))
    for text in (given or []):
        if text not in used:
            raise AnalysisError(_unused(parsed[text], cells, ambiguous.get(text)))
    return chosen


def _unused(spec: Spec, cells: pd.DataFrame, ambiguous) -> str:
    experiments = sorted(cells["experiment"].unique())
    if spec.experiment is not None and spec.experiment not in experiments:
        return f"--baseline {spec.text}: there is no experiment {spec.experiment}; choose one of {', '.join(experiments)}"
    methods = sorted(cells["method"].unique())
    if spec.method not in methods:
        return f"--baseline {spec.text} is not a recipe of these runs; choose one of {', '.join(methods)}"
    if ambiguous:
        exp, task, pool = ambiguous
        first = ",".join(x for x in (spec.method, pool["params"].iloc[0]) if x)
        return (f"--baseline {spec.text} names {len(pool)} cells of {exp} ({task}); name the one with its params, "
                f"e.g. --baseline {first}")
    kinds = sorted({p for p in cells[cells["method"] == spec.method]["params"]})
    return (f"--baseline {spec.text} names no cell of these runs; the cells of {spec.method}: "
            f"{', '.join(','.join(x for x in (spec.method, p) if x) for p in kinds)}")
