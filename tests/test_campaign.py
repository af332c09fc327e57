"""The bad-input campaign: every mistake a user can type, each answered by one line and a non-zero exit, with
no traceback and nothing written. ``pytest -m slow tests/test_campaign.py -rA`` prints the tally.

The fault half of the campaign (kill -9, SIGTERM, Ctrl-C, two sweeps at once, corrupt records, a killed
analysis, a killed cache write, SLURM cancel and requeue) lives beside the code it exercises:
test_reliability, test_checkpoint, test_packing, test_cli, test_sweep, test_analysis, test_slurm.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
RUN = ["model=tiny_random", "train.epochs=1", "data.max_train_samples=8"]

# (id, module, arguments); {glue}, {results}, {file}, {readonly}, {csv} are filled in per test
BAD_INPUTS = [
    ("unknown model", "stability_bench", ["model=gpt9"]),
    ("schema as model", "stability_bench", ["model=base_model"]),
    ("schema as task", "stability_bench", ["task=base_task"]),
    ("unknown task", "stability_bench", ["task=sst9"]),
    ("unknown recipe", "stability_bench", ["method=sgd"]),
    ("unknown sweep", "stability_bench", ["+sweep=nope"]),
    ("unknown launcher", "stability_bench", ["hydra/launcher=nope", "-m"]),
    ("misspelt group", "stability_bench", ["trian.lr=1"]),
    ("misspelt group with +", "stability_bench", ["+trian.lr=1"]),
    ("misspelt key", "stability_bench", ["data.max_train_sample=32"]),
    ("misspelt key with +", "stability_bench", ["+data.max_train_sample=32"]),
    ("misspelt model key", "stability_bench", ["model.nme=x"]),
    ("key under a free-form node", "stability_bench", ["model.random_init.x=3"]),
    ("key under the sweep node", "stability_bench", ["sweep.x=1"]),
    ("+ on an existing key", "stability_bench", ["+seed=3"]),
    ("not an integer", "stability_bench", ["seed=abc"]),
    ("override syntax", "stability_bench", ["train.lr=[1,"]),
    ("negative seed", "stability_bench", ["seed=-1"]),
    ("negative data seed in a sweep", "stability_bench", ["data_seed=3,-2", "-m"]),
    ("zero learning rate", "stability_bench", ["train.lr=0"]),
    ("negative learning rate", "stability_bench", ["train.lr=-1"]),
    ("zero batch size", "stability_bench", ["train.batch_size=0"]),
    ("zero epochs", "stability_bench", ["train.epochs=0"]),
    ("warmup ratio above 1", "stability_bench", ["train.warmup_ratio=1.5"]),
    ("negative weight decay", "stability_bench", ["train.weight_decay=-0.1"]),
    ("beta of 1", "stability_bench", ["train.adam_beta2=1.0"]),
    ("negative evals per epoch", "stability_bench", ["train.evals_per_epoch=-1"]),
    ("unknown precision", "stability_bench", ["train.precision=fp8"]),
    ("bf16 on a CPU", "stability_bench", ["train.precision=bf16", "train.device=cpu"]),
    ("unknown selection", "stability_bench", ["train.select=worst"]),
    ("CUDA without a GPU", "stability_bench", ["train.device=cuda"]),
    ("unknown device", "stability_bench", ["train.device=tpu"]),
    ("zero max length", "stability_bench", ["data.max_length=0"]),
    ("negative dev cap", "stability_bench", ["data.max_eval_samples=-3"]),
    ("unknown metric", "stability_bench", ["task.metric=bleu"]),
    ("negative CWGNC threshold", "stability_bench", ["method=cwgnc", "method.threshold=-1"]),
    ("unknown CWGNC grouping", "stability_bench", ["method=cwgnc", "method.grouping=foo"]),
    ("Mixout p above 1", "stability_bench", ["method=mixout", "method.p=1.5"]),
    ("unknown recipe setting", "stability_bench", ["method.foo=1"]),
    ("unknown recipe setting with +", "stability_bench", ["+method.foo=1"]),
    ("no data directory", "stability_bench", ["data.glue_dir=/nonexistent/glue"]),
    ("malformed data file", "stability_bench", ["data.glue_dir={bad_glue}", "task=cola"]),
    ("results_dir is a file", "stability_bench", ["results_dir={file}"]),
    ("results_dir cannot be made", "stability_bench", ["results_dir=/proc/stability_bench_results"]),
    ("results_dir cannot be made, in a sweep", "stability_bench", ["results_dir={file}/r", "seed=1,2", "-m"]),
    ("experiment outside results_dir", "stability_bench", ["experiment=../elsewhere"]),
    ("empty seed range", "stability_bench", ["seed=range(1,1)", "-m"]),
    ("launch batches of none", "stability_bench", ["hydra/launcher=local", "hydra.sweeper.max_batch_size=-1", "seed=1,2", "-m"]),
    ("SLURM time limit below 0", "stability_bench", ["hydra/launcher=slurm", "hydra.launcher.timeout_min=-5", "-m"]),
    ("SLURM no array task at a time", "stability_bench", ["hydra/launcher=slurm", "hydra.launcher.array_parallelism=0", "-m"]),
    ("one bad cell in a sweep", "stability_bench", ["method=cwgnc", "method.threshold=0.05,-1", "-m"]),
    ("zero workers", "stability_bench", ["hydra/launcher=local", "hydra.launcher.workers_per_job=0", "-m"]),
    ("unknown packing", "stability_bench", ["hydra/launcher=local", "hydra.launcher.runs_per_job=foo", "-m"]),
    ("packing setting without its launcher", "stability_bench", ["hydra.launcher.workers_per_job=8", "-m"]),
    ("misspelt launcher setting", "stability_bench", ["hydra/launcher=local", "hydra.launcher.worker_per_job=8", "-m"]),
    ("hub model without a checkpoint", "stability_bench", ["model=hub"]),
    ("hub model that does not exist", "stability_bench", ["model=hub", "model.pretrained=/nonexistent/checkpoint"]),
    ("unknown random model type", "stability_bench", ["+model.random_init.model_type=gpt9"]),
    ("layer recipe on a shared-layer model", "stability_bench", ["method=reinit", "+model.random_init.model_type=albert"]),
    ("layer recipe on a family without adapter", "stability_bench", ["method=gu", "+model.random_init.model_type=mpnet"]),
    ("f1 of a three-label task", "stability_bench", ["task=cb", "task.metric=f1"]),
    ("unknown task text field", "stability_bench", ["task=mrpc", "task.local.label_field=Qualty"]),
    ("unknown task file format", "stability_bench", ["task.local.format=xml"]),
    ("analysis: no such directory", "analysis", ["/nonexistent", "--out", "{results}/a"]),
    ("analysis: empty directory", "analysis", ["{empty}", "--out", "{results}/a"]),
    ("analysis: --out is a file", "analysis", ["{records}", "--out", "{file}"]),
    ("analysis: --out cannot be made", "analysis", ["{records}", "--out", "{file}/a"]),
    ("analysis: foreign runs.csv", "analysis", ["--from-runs", "{csv}", "--out", "{results}/a"]),
    ("analysis: no such runs.csv", "analysis", ["--from-runs", "/nonexistent.csv", "--out", "{results}/a"]),
    ("analysis: unknown rule", "analysis", ["{records}", "--out", "{results}/a", "--rule", "foo"]),
    ("analysis: nothing to read", "analysis", ["--out", "{results}/a"]),
    ("analysis: unknown baseline", "analysis", ["{records}", "--out", "{results}/a", "--baseline", "bias_corection"]),
    ("analysis: baseline param without value", "analysis", ["{records}", "--out", "{results}/a", "--baseline",
                                                            "bias_correction,threshold"]),
    ("analysis: baseline of no experiment", "analysis", ["{records}", "--out", "{results}/a", "--baseline",
                                                         "nope/bias_correction"]),
    ("analysis: baseline params of no cell", "analysis", ["{records}", "--out", "{results}/a", "--baseline",
                                                          "bias_correction,p=0.1"]),
    ("status: no such directory", "stability_bench.status", ["/nonexistent"]),
    ("status: empty directory", "stability_bench.status", ["{empty}"]),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    from conftest import write_glue

    root = tmp_path_factory.mktemp("campaign")
    glue = write_glue(root / "glue")
    bad = write_glue(root / "bad_glue")
    (bad / "CoLA" / "train.tsv").write_text("gj04\t1\n")
    (root / "file").write_text("x")
    (root / "empty").mkdir()
    (root / "foreign.csv").write_text("a,b\n1,2\n")
    records = root / "records"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "stability_bench", *RUN, f"data.glue_dir={glue}",
                           f"results_dir={records}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    yield {"glue": glue, "bad_glue": bad, "file": root / "file",
           "empty": root / "empty", "csv": root / "foreign.csv", "records": records, "root": root}


@pytest.mark.parametrize("module,args", [(m, a) for _, m, a in BAD_INPUTS], ids=[i for i, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_writes_nothing(places, tmp_path, module, args):
    results = tmp_path / "results"
    fill = {**{k: str(v) for k, v in places.items()}, "results": str(results)}
    args = [a.format(**fill) for a in args]
    if module == "stability_bench":
        args = RUN + [f"data.glue_dir={places['glue']}"] + \
            ([] if any(a.startswith("results_dir=") for a in args) else [f"results_dir={results}"]) + args
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip() and not ln.startswith("usage:")
             and not ln.startswith(" " * 10) and not ln.startswith("[sweep]")]
    assert out.returncode != 0, f"accepted silently: {out.stderr[-1500:]}"
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert len(lines) == 1 and "error: " in lines[0], out.stderr[-1500:]  # one line that says what is wrong
    assert not results.exists() or not list(results.rglob("*.json"))  # nothing written: no record, no sweep.json
