"""GLUE tasks: reading a split from a local GLUE directory or the datasets hub, as labelled texts.

Owns the file formats (original GLUE TSVs, read without quote handling) and the hub fallback.
It knows nothing of tokenizers or models; metrics live in ``metrics.py``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from .config import UserError

SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv"}
HUB_SPLITS = {"train": "train", "dev": "validation"}


class DataError(UserError):
    """Missing, unreadable or malformed task data."""


@dataclass
class Split:
    texts: list[tuple[str, ...]]  # one or two texts per example
    labels: list[int]  # label ids, indexes into the task's label_names


def read_glue_tsv(path: Path, task) -> Split:
    """Read one original-GLUE TSV. Quote characters are text, never CSV quoting (QUOTE_NONE)."""
    if not path.is_file():
        raise DataError(f"GLUE file not found: {path} (data.glue_dir must hold {task.glue_dir_name}/train.tsv and dev.tsv)")
    local = task.local
    label_ids = {name: i for i, name in enumerate(task.label_names)}
    texts, labels = [], []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # MRPC files start with a BOM
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            for lineno, row in enumerate(rows, start=1):
                if lineno == 1 and local.header:
                    continue
                if len(row) != local.n_columns:
                    raise DataError(f"{path}:{lineno}: expected {local.n_columns} tab-separated fields, found {len(row)}")
                raw = row[local.label_column].strip()
                label = label_ids.get(raw)
                if label is None:
                    try:
                        label = int(raw)
                    except ValueError:
                        label = -1
                if not 0 <= label < len(task.label_names):
                    raise DataError(f"{path}:{lineno}: label {raw!r} is not one of {task.label_names} or their ids")
                texts.append(tuple(row[c] for c in local.text_columns))
                labels.append(label)
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if not labels:
        raise DataError(f"{path} holds no examples")
    return Split(texts, labels)


def load_hub_split(task, split: str) -> Split:
    import datasets

    try:
        ds = datasets.load_dataset(task.hub_path, task.hub_name, split=HUB_SPLITS[split])
    except Exception as e:  # the hub raises many types; all mean "not available here"
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"cannot load {task.hub_path}/{task.hub_name} from the datasets hub ({first_line}); "
            "offline, set data.glue_dir (or STABILITY_BENCH_GLUE_DIR) to a local GLUE directory"
        ) from None
    texts = list(zip(*(ds[field] for field in task.text_fields)))
    return Split(texts, [int(x) for x in ds["label"]])


def load_split(task, glue_dir: str | None, split: str) -> Split:
    if glue_dir is None:
        return load_hub_split(task, split)
    root = Path(os.path.expanduser(glue_dir))
    if not root.is_dir():
        raise DataError(f"data.glue_dir={glue_dir} is not a directory (expected the GLUE layout: {task.glue_dir_name}/train.tsv, dev.tsv)")
    return read_glue_tsv(root / task.glue_dir_name / SPLIT_FILES[split], task)


def source_fingerprint(task, glue_dir: str | None) -> list:
    """What identifies the raw data, for the tokenization cache key."""
    if glue_dir is None:
        return ["hub", task.hub_path, task.hub_name]
    files = [Path(os.path.expanduser(glue_dir)) / task.glue_dir_name / f for f in SPLIT_FILES.values()]
    return ["local"] + [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files if p.exists()]
