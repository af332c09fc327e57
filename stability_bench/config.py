"""Structured configs: the schema every Hydra config in ``conf/`` is merged onto.

This module owns the types and value checks of the run configuration. It does not read
files or build objects; ``validate`` turns a bad value into a one-line ``ConfigError`` that
names the key and what would be valid. Method-specific keys (``method.*``) are validated by
each recipe's own params dataclass (see ``stability_bench.recipes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


class UserError(ValueError):
    """A user mistake (config, data files); its message is one line meant for the terminal."""


class ConfigError(UserError):
    """A bad configuration value."""


@dataclass
class TaskFilesConfig:
    dir: Optional[str] = None  # the task's folder under data.glue_dir (RTE, BoolQ), or an absolute folder
    train: str = "train.tsv"  # file names in that folder
    dev: str = "dev.tsv"
    format: Optional[str] = None  # tsv | csv | jsonl; null: from the file's extension
    header: bool = True  # tsv/csv: the first row names the columns
    columns: Optional[list[str]] = None  # tsv/csv: the columns' names, in order (a file without a header row)
    text_fields: Optional[list[str]] = None  # the file's names of the text fields, when not task.text_fields
    label_field: Optional[str] = None  # the file's name of the label field, when not task.label_field


@dataclass
class TaskConfig:
    name: str = MISSING  # the name in records and run directories
    label: Optional[str] = None  # its name in tables and figures, e.g. "CoLA (MCC)" (null: the name)
    text_fields: list[str] = MISSING  # the one or two texts of an example (field names)
    label_field: str = "label"
    label_names: list[str] = MISSING  # the name of each label id; files may give either
    metric: str = MISSING  # accuracy | f1 (of label id 1) | mcc | macro_f1: the table metric
    hub_path: Optional[str] = None  # datasets.load_dataset path; null: local files only
    hub_name: Optional[str] = None  # datasets.load_dataset config name
    hub_splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "dev": "validation"})
    local: TaskFilesConfig = field(default_factory=TaskFilesConfig)


@dataclass
class ModelConfig:
    name: str = MISSING  # the name used in records and tables
    pretrained: Optional[str] = None  # hub id or local directory for from_pretrained
    package: Optional[str] = None  # python package that ships the weights (offline models)
    package_subdir: str = "model"  # folder inside that package holding config + weights
    random_init: Optional[dict[str, Any]] = None  # model_type (default bert) + config sizes: a random model instead


@dataclass
class DataConfig:
    glue_dir: Optional[str] = None  # local GLUE directory; null = datasets hub
    max_train_samples: Optional[int] = None  # fixed random training subset (same for every seed)
    max_eval_samples: Optional[int] = None  # first N dev examples (keeps dev-file order)
    subset_seed: int = 0  # seed of the training subset, independent of the run seed
    max_length: int = 128  # tokens per example after truncation
    cache_dir: Optional[str] = None  # tokenization cache; null = <results_dir>/.cache
    group_by_length: bool = False  # batch examples of similar length (less padding; changes batch composition)
    # hold this fraction of the training set out of training (fixed by subset_seed, the same for every run seed);
    # train.select=best then selects on it, not on the dev set it reports
    heldout_fraction: Optional[float] = None


@dataclass
class TrainConfig:
    epochs: int = 3
    lr: float = 2e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    warmup_ratio: float = 0.1  # linear warmup over this fraction of steps, then linear decay to 0
    weight_decay: float = 0.01  # not applied to biases and LayerNorm weights
    adam_eps: float = 1e-6
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    correct_bias: bool = True  # Adam bias correction; false = BERTAdam (Devlin et al.)
    max_grad_norm: Optional[float] = 1.0  # global gradient-norm clipping; null = off
    evals_per_epoch: int = 1  # dev evaluations per epoch (the last at the epoch's end); 0 = only at the end
    select: str = "last"  # which evaluation is the run's metric: last | best
    precision: str = "fp32"  # fp32 | bf16 (autocast, GPU)
    tf32: bool = False  # TF32 matmuls on Ampere+ GPUs (faster, changes numerics)
    deterministic: bool = False  # deterministic algorithms (and cuBLAS workspace): same seed, same GPU, same result
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    log_every: int = 10  # steps between loss/lr log lines (and divergence checks)
    component_stats_every: int = 0  # steps between per-component statistics; 0 = off
    threads: Optional[int] = None  # torch CPU threads; null = torch's default


@dataclass
class Config:
    task: TaskConfig = MISSING
    model: ModelConfig = MISSING
    method: Any = MISSING  # recipe name + its params, validated by the recipe
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # classifier init, dropout and data order
    init_seed: Optional[int] = None  # overrides seed for weight initialisation (Dodge et al. 2020)
    data_seed: Optional[int] = None  # overrides seed for data order and dropout
    results_dir: str = "results"
    experiment: str = "default"  # one folder under results_dir (a name, no "/") grouping a sweep's runs
    force: bool = False  # re-run even when a completed (or diverged) record exists
    sweep: Optional[dict[str, Any]] = None  # set by +sweep=...: name and declared grid


def _name_from_pretrained(pretrained: str) -> str:
    from .models import name_from_pretrained

    return name_from_pretrained(pretrained)


# conf/model/hub.yaml names its model from model.pretrained; registered on import, so that every process that
# resolves a config (a sweep's workers, a SLURM job) has it
OmegaConf.register_new_resolver("name_from_pretrained", _name_from_pretrained, replace=True)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(group="schema", name="task", node=TaskConfig, package="_group_")
    cs.store(group="schema", name="model", node=ModelConfig, package="_group_")


METRICS = ("accuracy", "f1", "mcc", "macro_f1")
PRECISIONS = ("fp32", "bf16")
SELECTS = ("last", "best")


def _positive(value: Any, key: str) -> None:
    if value is None or value <= 0:
        raise ConfigError(f"{key}={value} is invalid: it must be a positive number")


def _seed(value: Any, key: str, bound: int) -> None:
    # a negative seed would name its run directory seed-1, easily read as seed 1, and numpy refuses it
    if value is not None and not 0 <= value < bound:
        raise ConfigError(f"{key}={value} is invalid: a seed is an integer from 0 to {bound - 1}")


def _folder_name(value: Any, key: str) -> None:
    # it names one folder of <results_dir>/<experiment>/<task>/...: a "/" or ".." would put runs where status,
    # the analysis and resuming do not look for them, and folders starting with "." are the tool's own (.cache)
    if not value or "/" in str(value) or str(value).startswith("."):
        raise ConfigError(f"{key}={value} is invalid: it names one folder under results_dir, so it must be a non-empty "
                          "name without '/' that does not start with '.'")


SCHEMA = {"": Config, "task": TaskConfig, "task.local": TaskFilesConfig, "model": ModelConfig, "data": DataConfig,
          "train": TrainConfig}  # method.* is checked by its recipe; model.random_init and sweep are free-form


def unknown_setting(prefix: str, key: str, known: list[str]) -> str:
    """``prefix.key`` is not among the ``known`` settings of ``prefix``: the closest one, else all of them."""
    import difflib

    full = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {prefix + '.' if prefix else ''}{close[0]}?" if close else \
        f"; the settings of {prefix or 'the top level'}: {', '.join(known) or 'none'}"
    return f"{full} is not a setting{hint}"


def unknown_key_message(full_key: str) -> str:
    """The one-line error for a dotted key that is not in the schema, with the closest key."""
    from dataclasses import fields

    prefix, _, key = full_key.rpartition(".")
    while prefix and prefix not in SCHEMA:  # a key under a free-form node (model.random_init.x) or deeper
        prefix, _, key = prefix.rpartition(".")
    if key in {f.name for f in fields(SCHEMA[prefix])}:  # inside a free-form node such as model.random_init
        parent, _, name = full_key.rpartition(".")
        if parent == "method":  # a recipe's setting that the chosen preset does not have
            from .recipes import elsewhere

            return f"{full_key} is not a setting of the chosen method{elsewhere(name)}"
        return f"{full_key} is not in {parent}; to add a key there use +{full_key}=..."
    return unknown_setting(prefix, key, [f.name for f in fields(SCHEMA[prefix])])


def check_keys(cfg: Any) -> None:
    """A key the schema does not have is an error (``+data.max_train_sample=32`` must not be ignored)."""
    from dataclasses import fields

    for prefix, schema in SCHEMA.items():
        node = cfg
        for part in filter(None, prefix.split(".")):
            node = node.get(part) if hasattr(node, "get") else None
        if not hasattr(node, "keys"):
            continue
        known = [f.name for f in fields(schema)]
        for key in node.keys():
            if key not in known:
                raise ConfigError(unknown_setting(prefix, str(key), known))


def validate(cfg: Any) -> None:
    """Check keys and values that types alone cannot; raise ConfigError naming the first bad key."""
    check_keys(cfg)
    t = cfg.train
    for key in ("epochs", "lr", "batch_size", "eval_batch_size", "log_every"):
        _positive(t[key], f"train.{key}")
    if t.evals_per_epoch is None or t.evals_per_epoch < 0:
        raise ConfigError(f"train.evals_per_epoch={t.evals_per_epoch} is invalid: it must be >= 0 "
                          "(0 = evaluate only at the end of training)")
    if not 0.0 <= t.warmup_ratio < 1.0:
        raise ConfigError(f"train.warmup_ratio={t.warmup_ratio} is invalid: it must be in [0, 1)")
    if t.weight_decay < 0:
        raise ConfigError(f"train.weight_decay={t.weight_decay} is invalid: it must be >= 0")
    if t.max_grad_norm is not None:
        _positive(t.max_grad_norm, "train.max_grad_norm")
    _positive(t.adam_eps, "train.adam_eps")
    for key in ("adam_beta1", "adam_beta2"):
        if not 0.0 <= t[key] < 1.0:
            raise ConfigError(f"train.{key}={t[key]} is invalid: it must be in [0, 1)")
    if t.precision not in PRECISIONS:
        raise ConfigError(f"train.precision={t.precision} is invalid: choose one of {', '.join(PRECISIONS)}")
    if t.select not in SELECTS:
        raise ConfigError(f"train.select={t.select} is invalid: choose one of {', '.join(SELECTS)}")
    if t.component_stats_every < 0:
        raise ConfigError(f"train.component_stats_every={t.component_stats_every} is invalid: use 0 (off) or a positive step count")
    for key in ("seed", "init_seed", "data_seed"):
        _seed(cfg[key], key, 2**63)
    for key, value in (("model.name", cfg.model.name), ("task.name", cfg.task.name), ("experiment", cfg.experiment)):
        _folder_name(value, key)
    d = cfg.data
    _seed(d.subset_seed, "data.subset_seed", 2**32)  # numpy's RandomState draws the subset
    for key in ("max_train_samples", "max_eval_samples"):
        if d[key] is not None:
            _positive(d[key], f"data.{key}")
    _positive(d.max_length, "data.max_length")
    if d.heldout_fraction is not None:
        if not 0.0 < d.heldout_fraction < 1.0:
            raise ConfigError(f"data.heldout_fraction={d.heldout_fraction} is invalid: it must be in (0, 1), or null "
                              "(no held-out split)")
        if t.select != "best":
            raise ConfigError(f"data.heldout_fraction={d.heldout_fraction} holds training data out for "
                              f"train.select=best to select on; with train.select={t.select} it would only shrink "
                              "the training set: set train.select=best, or data.heldout_fraction=null")
    task = cfg.task
    if task.metric not in METRICS:
        raise ConfigError(f"task.metric={task.metric} is invalid: choose one of {', '.join(METRICS)}")
    if len(task.label_names) < 2:
        raise ConfigError(f"task.label_names={list(task.label_names)} is invalid: a classification task needs two or more labels")
    if task.metric == "f1" and len(task.label_names) != 2:
        raise ConfigError(f"task.metric=f1 is the F1 of label id 1 of a two-label task; task {task.name} has "
                          f"{len(task.label_names)} labels: use macro_f1, accuracy or mcc")
    if not 1 <= len(task.text_fields) <= 2:
        raise ConfigError(f"task.text_fields={list(task.text_fields)} is invalid: give one text or a pair")
    if task.local.format not in (None, "tsv", "csv", "jsonl"):
        raise ConfigError(f"task.local.format={task.local.format} is invalid: choose tsv, csv, jsonl or null (from the extension)")
    if set(task.hub_splits) != {"train", "dev"}:
        raise ConfigError(f"task.hub_splits={dict(task.hub_splits)} is invalid: name the hub split of train and of dev")
    if cfg.model.pretrained is None and cfg.model.package is None and cfg.model.random_init is None:
        raise ConfigError(f"model '{cfg.model.name}' names no weights: set model.pretrained=<hub id or local directory> "
                          "(or model.package, model.random_init)")
