"""A built wheel is the whole tool: installed outside the checkout, it trains, sweeps and analyses from any folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _build_wheel(out: Path) -> Path:
    """The wheel pip builds from this checkout; with the environment's own setuptools when it is recent enough
    (no download), else in pip's isolated build environment."""
    try:
        recent = int(version("setuptools").split(".")[0]) >= 77  # pyproject.toml's build requirement
    except Exception:
        recent = False
    # From a copy: pip builds in the source folder, and a build/ left there by an earlier build would hand on
    # files that the package list no longer names.
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "results", "*.egg-info", "__pycache__",
                                                                 "study_*", "example"))
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *(["--no-build-isolation"] if recent else []),
           str(source), "-w", str(out)]
    built = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    return next(out.glob("stability_bench-*.whl"))


def _checkout_files() -> set[str]:
    """What an installed tool needs: every module of its packages and every YAML file, as the wheel names them."""
    files = {str(p.relative_to(ROOT)) for folder in ("stability_bench", "analysis", "hydra_plugins")
             for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts}
    files |= {f"stability_bench/{p.relative_to(ROOT)}" for p in (ROOT / "conf").rglob("*.yaml")}
    return files


@pytest.mark.slow
def test_an_installed_wheel_holds_every_module_and_config_and_runs_outside_the_checkout(glue_dir, tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = {n for n in z.namelist() if not n.startswith("stability_bench-")}  # not the dist-info
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    wheel_version = next(line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Version: "))
    assert _checkout_files() - names == set()  # a package or conf group missing from pyproject.toml's list
    assert not {n for n in names if n.startswith("conf/")}  # the configs live inside the package, not top level

    # Installed where a user's project keeps its environment: an ignored folder of a git repository of its own.
    work = tmp_path / "project"
    work.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "a project of the user's"]):
        subprocess.run(git + args, check=True, capture_output=True)
    (work / ".gitignore").write_text("/env/\n/results/\n/tables/\n")
    target = work / "env" / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-3000:]
    # -S: no site processing, so neither the checkout's editable install nor the current folder's checkout is
    # seen; the dependencies come from this environment's site-packages, the tool from the wheel only.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
           "HF_HUB_OFFLINE": "1"}

    def run(*args):
        out = subprocess.run([sys.executable, "-S", *args], cwd=work, env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return out

    where = run("-c", "import stability_bench; print(stability_bench.CONF_DIR)").stdout.strip()
    assert Path(where) == target / "stability_bench" / "conf"
    run("-m", "stability_bench", "model=tiny_random", "task=rte", "method=cwgnc", f"data.glue_dir={glue_dir}",
        "data.max_train_samples=16", "train.epochs=1", "seed=1,2", "-m")
    records = sorted((work / "results" / "tiny_random" / "rte").glob("*/seed*/record.json"))
    recs = [json.loads(r.read_text()) for r in records]
    assert [r["status"] for r in recs] == ["completed", "completed"]
    # the tool's own version, and no commit: the user's repository's commit is not the code's
    assert {(r["environment"]["stability_bench"], r["environment"]["git_commit"]) for r in recs} == {(wheel_version, None)}
    run("-m", "analysis", "results/tiny_random", "--out", "tables", "--no-figures", "--no-aso")
    table = (work / "tables" / "table1.md").read_text()  # declared by the wheel's analysis/declared_tables
    assert "| CWGNC | ours |" in table and "|  | paper |" in table  # the paper's row: the declaration's numbers


def test_a_run_from_a_checkout_records_its_commit():
    from stability_bench.records import _git_commit

    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert _git_commit() in (head, f"{head}-dirty")
