"""Shared fixtures: a small GLUE directory written by the tests, and in-process Hydra composition."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from stability_bench import CONF_DIR as _CONF_DIR
from stability_bench.config import register_configs

CONF_DIR = str(_CONF_DIR)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
register_configs()

WORDS = "the cat sat on a mat while dogs ran \" quickly ' over hills and 2 rivers".split()


def _sentence(i: int, n: int = 8) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n))


def write_glue(root: Path, n_train: int = 40, n_dev: int = 24) -> Path:
    """RTE, MRPC and CoLA files in the original GLUE layout, with the real files' quirks:
    quote characters inside texts, a BOM before MRPC's header, CoLA without a header."""
    for task in ("RTE", "MRPC", "CoLA"):
        (root / task).mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_dev)):
        rte = ["index\tsentence1\tsentence2\tlabel"]
        rte += [f"{i}\t{_sentence(i)}\t\"{_sentence(i + 1, 5)}\t{'entailment' if i % 3 else 'not_entailment'}" for i in range(n)]
        (root / "RTE" / f"{split}.tsv").write_text("\n".join(rte) + "\n", encoding="utf-8")
        mrpc = ["\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        mrpc += [f"{int(i % 4 != 0)}\t{100 + i}\t{200 + i}\t{_sentence(i)}\t{_sentence(i + 2)} \"" for i in range(n)]
        (root / "MRPC" / f"{split}.tsv").write_text("\n".join(mrpc) + "\n", encoding="utf-8")
        cola = [f"gj04\t{int(i % 3 != 0)}\t{'' if i % 3 else '*'}\t{_sentence(i, 6)}" for i in range(n)]
        (root / "CoLA" / f"{split}.tsv").write_text("\n".join(cola), encoding="utf-8")
    return root


@pytest.fixture
def glue_dir(tmp_path) -> Path:
    return write_glue(tmp_path / "glue")


@pytest.fixture
def real_glue_dir() -> Path:
    path = os.environ.get("STABILITY_BENCH_GLUE_DIR")
    if not path or not (Path(path) / "RTE" / "dev.tsv").exists():
        pytest.skip("set STABILITY_BENCH_GLUE_DIR to the real GLUE files (../shared/data/glue)")
    return Path(path).resolve()


def make_cfg(overrides: list[str], glue_dir: Path, results_dir: Path):
    """The config that `python -m stability_bench <overrides>` would build (tiny model by default)."""
    base = [f"data.glue_dir={glue_dir}", f"results_dir={results_dir}", "model=tiny_random",
            "train.batch_size=8", "train.epochs=1"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=base + overrides)
