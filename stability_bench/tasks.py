"""Classification tasks: reading a split, as labelled texts, from local files (TSV, CSV, JSON lines) or the
datasets hub.

A task is declared in ``conf/task/<name>.yaml``: its text fields, label field and label names, its metric, its
hub dataset and the layout of its local files. Local files are read whenever ``data.glue_dir`` is set (the
task's folder under it), the task names an absolute ``local.dir``, or it has no hub dataset. TSV files
are read without quote handling (GLUE's texts contain quote characters); CSV files with it. Every malformed
row, unknown field or unknown label is a one-line error naming the file, the line and the field. This module
knows nothing of tokenizers or models; metrics live in ``metrics.py``.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .config import UserError

FORMATS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
SEPARATOR = {"tsv": ("\t", csv.QUOTE_NONE, "tab"), "csv": (",", csv.QUOTE_MINIMAL, "comma")}


class DataError(UserError):
    """Missing, unreadable or malformed task data."""


@dataclass
class Split:
    texts: list[tuple[str, ...]]  # one or two texts per example
    labels: list[int]  # label ids, indexes into the task's label_names


def label_id(raw, names, where: str, field: str) -> int:
    """A label given by its name (``entailment``, ``True``) or its id (``1``)."""
    text = str(raw).strip()  # JSON booleans: True / False, as BoolQ's label names
    if text in names:
        return list(names).index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
        return int(text)
    raise DataError(f"{where}: label {text!r} in field {field!r} is not one of {list(names)} or their ids 0-{len(names) - 1}")


def _fields(task) -> tuple[list[str], str]:
    local = task.local
    return list(local.text_fields or task.text_fields), local.label_field or task.label_field


def read_table(path: Path, fmt: str, task) -> Split:
    """A TSV or CSV file: its header (or ``local.columns``) names the fields."""
    sep, quoting, sep_name = SEPARATOR[fmt]
    local = task.local
    text_fields, label_field = _fields(task)
    texts, labels = [], []
    with open(path, encoding="utf-8-sig", newline="") as f:  # MRPC's files start with a byte order mark
        rows = csv.reader(f, delimiter=sep, quoting=quoting)
        names = list(local.columns) if local.columns is not None else None
        if local.header:
            header = next(rows, None)
            names = names or header
        if not names:
            raise DataError(f"{path}: the file has no header row: name its columns in task.local.columns")
        for field in [*text_fields, label_field]:
            if field not in names:
                raise DataError(f"{path}:1: no field {field!r} (the file's fields: {', '.join(names)})")
        cols = [names.index(t) for t in text_fields]
        label_col = names.index(label_field)
        for row in rows:
            line = rows.line_num
            if not row:
                continue
            if len(row) != len(names):
                raise DataError(f"{path}:{line}: expected {len(names)} {sep_name}-separated fields, found {len(row)}")
            texts.append(tuple(row[c] for c in cols))
            labels.append(label_id(row[label_col], task.label_names, f"{path}:{line}", label_field))
    return Split(texts, labels)


def read_jsonl(path: Path, task) -> Split:
    """One JSON object per line (SuperGLUE's layout)."""
    text_fields, label_field = _fields(task)
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{line}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{line}: expected a JSON object, found {type(obj).__name__}")
            for field in [*text_fields, label_field]:
                if field not in obj:
                    raise DataError(f"{path}:{line}: no field {field!r} (the object's fields: {', '.join(obj)})")
            texts.append(tuple(str(obj[t]) for t in text_fields))
            labels.append(label_id(obj[label_field], task.label_names, f"{path}:{line}", label_field))
    return Split(texts, labels)


def _own_folder(task) -> bool:
    """Does the task name an absolute folder (its files do not live under data.glue_dir)?"""
    return bool(task.local.dir) and Path(os.path.expanduser(task.local.dir)).is_absolute()


def local_file(task, glue_dir: str | None, split: str) -> Path:
    root = Path(os.path.expanduser(glue_dir)) if glue_dir is not None else Path.cwd()
    folder = root / os.path.expanduser(task.local.dir) if task.local.dir else root
    return folder / task.local[split]


def local_path(task, glue_dir: str | None, split: str) -> Path:
    """The split's local file, or the DataError a run would stop with: no data.glue_dir folder, no file."""
    if glue_dir is not None and not _own_folder(task) and not Path(os.path.expanduser(glue_dir)).is_dir():
        raise DataError(f"data.glue_dir={glue_dir} is not a directory (expected the folder holding "
                        f"{task.local.dir or '.'}/{task.local.train} and {task.local.dev})")
    path = local_file(task, glue_dir, split)
    if not path.is_file():
        raise DataError(f"data file not found: {path} (task {task.name} reads {task.local.dir or '.'}/{task.local[split]}"
                        f"{' under data.glue_dir' if glue_dir is not None else ''})")
    return path


def check_files(cfgs) -> None:
    """Every local data file that runs of ``cfgs`` read is there (not read: a sweep checks this before it
    launches runs that would each stop on it); hub data is not checked, which would download it."""
    seen = set()
    for cfg in cfgs:
        key = _files_key(cfg)
        if key not in seen and uses_local(cfg.task, cfg.data.glue_dir):
            seen.add(key)
            for split in ("train", "dev"):
                local_path(cfg.task, cfg.data.glue_dir, split)


def read_local(task, glue_dir: str | None, split: str) -> Split:
    path = local_path(task, glue_dir, split)
    fmt = task.local.format or FORMATS.get(path.suffix.lower())
    if fmt not in ("tsv", "csv", "jsonl"):
        raise DataError(f"{path}: unknown format; set task.local.format to tsv, csv or jsonl")
    try:
        split_data = read_jsonl(path, task) if fmt == "jsonl" else read_table(path, fmt, task)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if not split_data.labels:
        raise DataError(f"{path} holds no examples")
    return split_data


def load_hub_split(task, split: str) -> Split:
    import datasets

    try:
        ds = datasets.load_dataset(task.hub_path, task.hub_name, split=task.hub_splits[split])
    except Exception as e:  # the hub raises many types; all mean "not available here"
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"cannot load {task.hub_path}/{task.hub_name} ({task.hub_splits[split]}) from the datasets hub ({first_line}); "
            f"offline, set data.glue_dir (or STABILITY_BENCH_GLUE_DIR) to a folder holding {task.local.dir}/"
        ) from None
    where = f"{task.hub_path}/{task.hub_name} ({task.hub_splits[split]})"
    for field in [*task.text_fields, task.label_field]:
        if field not in ds.column_names:
            raise DataError(f"{where}: no field {field!r} (its fields: {', '.join(ds.column_names)})")
    texts = list(zip(*(ds[field] for field in task.text_fields)))
    hub_names = getattr(ds.features[task.label_field], "names", None) or []  # a ClassLabel's names

    def raw(x):  # the hub's label name where the task knows it, else the value itself (an id)
        named = hub_names[x] if isinstance(x, int) and 0 <= x < len(hub_names) else None
        return named if named in task.label_names else x

    labels = [label_id(raw(x), task.label_names, f"{where} row {i}", task.label_field)
              for i, x in enumerate(ds[task.label_field])]
    return Split(texts, labels)


def uses_local(task, glue_dir: str | None) -> bool:
    return glue_dir is not None or not task.hub_path or _own_folder(task)


def _files_key(cfg) -> tuple:
    """What decides which local files a run of ``cfg`` reads."""
    return cfg.task.name, cfg.data.glue_dir, str(cfg.task.local)


def train_size(cfg, sizes: dict) -> int | None:
    """Training examples a run of ``cfg`` uses (``data.max_train_samples`` applied), counted from its local
    training file (``sizes`` caches each file's count); None for hub data, which counting would download."""
    if not uses_local(cfg.task, cfg.data.glue_dir):
        return None
    key = _files_key(cfg)
    if key not in sizes:
        sizes[key] = len(read_local(cfg.task, cfg.data.glue_dir, "train").labels)
    n = sizes[key]
    n = n if cfg.data.max_train_samples is None else min(n, cfg.data.max_train_samples)
    return n - heldout_count(n, cfg.data.get("heldout_fraction"))


def heldout_count(n: int, fraction: float | None) -> int:
    """Training examples held out for selection (``data.heldout_fraction``) of n."""
    return 0 if fraction is None else int(round(fraction * n))


def load_split(task, glue_dir: str | None, split: str) -> Split:
    return read_local(task, glue_dir, split) if uses_local(task, glue_dir) else load_hub_split(task, split)


def source_fingerprint(task, glue_dir: str | None) -> list:
    """What identifies the raw data, for the tokenization cache key."""
    if not uses_local(task, glue_dir):
        return ["hub", task.hub_path, task.hub_name, dict(task.hub_splits), task.label_field]
    files = [local_file(task, glue_dir, s) for s in ("train", "dev")]
    return ["local", task.label_field, list(task.label_names)] + \
        [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files if p.exists()]


def from_record(task_cfg: dict) -> dict:
    """A record's task config in today's schema: records written before tasks were declared by field names
    (GLUE only: ``glue_dir_name`` and column indexes) are translated."""
    if "glue_dir_name" not in task_cfg:
        return task_cfg
    old = task_cfg.get("local") or {}
    columns = [f"column{i}" for i in range(old["n_columns"])]
    return {"name": task_cfg["name"], "text_fields": list(task_cfg["text_fields"]), "label_field": "label",
            "label_names": list(task_cfg["label_names"]), "metric": task_cfg["metric"],
            "hub_path": task_cfg.get("hub_path"), "hub_name": task_cfg.get("hub_name"),
            "hub_splits": {"train": "train", "dev": "validation"},
            "local": {"dir": task_cfg["glue_dir_name"], "train": "train.tsv", "dev": "dev.tsv", "format": "tsv",
                      "header": old.get("header", True), "columns": columns,
                      "text_fields": [columns[i] for i in old["text_columns"]], "label_field": columns[old["label_column"]]}}
