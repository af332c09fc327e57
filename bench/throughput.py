"""Benchmark from records: how many training steps per second a sweep achieved on its machine.

Merges the [started_at, finished_at] intervals of an experiment's completed runs into busy periods and, for
each, sums the steps of the runs inside it over the period's length (a lower bound: runs cut off at the end of
a period, e.g. by a time limit, are not counted). Also prints each task x recipe's median per-run steps/s and
the fixed cost per run (model load, tokenized data) from the records.

    python bench/throughput.py results/table1-minilm_l6
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("experiment", type=Path)
    ap.add_argument("--gap", type=float, default=5.0, help="seconds without a running run that end a busy period")
    args = ap.parse_args()
    recs = [json.loads(p.read_text()) for p in sorted(args.experiment.glob("*/*/seed*/record.json"))]
    done = [r for r in recs if r.get("status") == "completed"]
    if not done:
        raise SystemExit(f"no completed records under {args.experiment}")
    t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z").timestamp()  # noqa: E731
    periods: list[list] = []
    for start, end, r in sorted(((t(r["started_at"]), t(r["finished_at"]), r) for r in done), key=lambda x: x[:2]):
        if periods and start <= periods[-1][1] + args.gap:
            periods[-1][1] = max(periods[-1][1], end)
            periods[-1][2].append(r)
        else:
            periods.append([start, end, [r]])
    for start, end, rs in periods:
        end = max(end, start + 1.0)  # records' times have a resolution of one second
        steps = sum(r["steps"] for r in rs)
        workers = len({(r["owner"].get("pid")) for r in rs})
        print(f"throughput: period from {datetime.fromtimestamp(start):%H:%M:%S}, {end - start:.0f} s, {len(rs)} runs "
              f"by {workers} processes, {steps} steps: {steps / (end - start):.0f} steps/s")
    by = defaultdict(list)
    for r in done:
        by[(r["task"], r["method"]["name"])].append(r["steps"] / r["train_time_s"])
    for (task, method), v in sorted(by.items()):
        print(f"throughput: {task} {method}: {len(v)} runs, median {statistics.median(v):.1f} steps/s per run")
    print(f"throughput: fixed cost per run (medians): model load {statistics.median(r['model_load_s'] for r in done):.2f} s, "
          f"tokenized data {statistics.median(r['data_load_s'] for r in done):.2f} s")


if __name__ == "__main__":
    main()
