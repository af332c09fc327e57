"""What the paper fixes beyond any one table: the task order and the authors' failure thresholds; and the name a task
is shown by (its declaration's ``label``). The published numbers live in the table declarations
(``analysis/declared_tables/``)."""

from functools import lru_cache

from stability_bench import CONF_DIR

TASK_ORDER = ("rte", "mrpc", "cola")
TASK_DECLARATIONS = CONF_DIR / "task"


def recorded_task_labels(df) -> dict[str, str]:
    """task -> the ``label`` its records carry (runs.csv's and summary.csv's ``task_label`` column; a task declared
    in a folder of one's own is named only there)."""
    if "task_label" not in df:
        return {}
    return {t: lab for t, lab in zip(df["task"], df["task_label"]) if isinstance(lab, str) and lab}


def task_label(task: str, recorded: dict[str, str] | None = None) -> str:
    """A task's name in tables and figures: the label its records carry (``recorded``), else the one its shipped
    declaration (``conf/task/<task>.yaml``) states (records made before tasks had labels), else the task's name."""
    return (recorded or {}).get(task) or _declared_label(task) or task


@lru_cache(maxsize=None)
def _declared_label(task: str) -> str | None:
    from omegaconf import OmegaConf
    path = TASK_DECLARATIONS / f"{task}.yaml"
    return OmegaConf.load(path).get("label") if path.is_file() else None


# The fixed thresholds of the authors' aggregation script (metric <= value counts as failed).
FIXED_FAILURE_THRESHOLDS = {"rte": 0.53, "mrpc": 0.75, "cola": 0.0}
