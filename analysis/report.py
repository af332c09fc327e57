"""``report.html``: one self-contained page (tables, statistics and figures embedded; nothing fetched) that a
person opens in a browser: Table 1 and Table 2, the statistics, every figure, and the runs that did not
complete. It is built from the files the analysis wrote, so it says exactly what they say.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f6f6f6}img{max-width:100%}
h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ddd}h3{font-size:1.1em}code{background:#f2f2f2}"""


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<i>\1</i>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def markdown(text: str) -> str:
    """The Markdown the analysis writes (headings, paragraphs, bullet lists, pipe tables) as HTML."""
    out, rows, items = [], [], []

    def flush():
        if rows:
            head, body = rows[0], [r for r in rows[1:] if not re.fullmatch(r"[\s|:-]+", "|".join(r))]
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body) +
                       "</table>")
            rows.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level + 1}>{_inline(line.lstrip('#').strip())}</h{level + 1}>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></figure>'


def write(out: Path, runs: pd.DataFrame, stats_text: str, figures: list[str]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>stability_bench report</title>"
             f"<style>{STYLE}</style></head><body><h1>stability_bench report</h1>"]
    counts = runs["status"].value_counts()
    parts.append(f"<p>{len(runs)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
                 ". Every number below is in the CSV files beside this page (runs.csv holds one row per run).</p>")
    for name in ("table1.md", "table2.md"):
        if (out / name).exists():
            parts.append(markdown((out / name).read_text()))
    strips = [f for f in figures if f.endswith(".png") and f.startswith(("strip_", "table2_"))]
    parts += [_figure(out / f) for f in strips]
    parts.append(markdown(stats_text.replace("# Statistics beyond the paper", "## Statistics beyond the paper")))
    parts += [_figure(out / f) for f in figures if f.endswith(".png") and f not in strips]
    problems = runs[runs["status"] != "completed"]
    parts.append("<h2>Runs that did not complete</h2>")
    if problems.empty:
        parts.append("<p>None: every declared run completed.</p>")
    else:
        cols = ["experiment", "task", "method", "params", "seed", "status", "run_dir"]
        parts.append(problems[cols].to_html(index=False, na_rep="", border=0))
    if (out / "skipped.csv").exists():
        parts.append("<h2>Skipped record files</h2>" + pd.read_csv(out / "skipped.csv").to_html(index=False, border=0))
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts), encoding="utf-8")
    return "report.html"
