"""What the sweep makes of squeue's answer (the real cluster's side is in test_slurm.py)."""

from stability_bench.slurm_queue import never_starts, summary

PARAMS = {"partition": "gpu", "cpus_per_task": 64, "mem_gb": None, "gpus_per_node": 1, "timeout_min": 240,
          "account": None, "qos": None}


def test_summary_counts_array_tasks_by_state_and_reason():
    rows = [("7_0", "RUNNING", "None"), ("7_1", "RUNNING", "None"), ("7_2", "PENDING", "Priority"),
            ("7_3", "PENDING", "Priority"), ("7_4", "PENDING", "Resources")]
    assert summary(rows) == "2 running, 3 pending (Priority 2, Resources 1)"
    assert summary(rows[2:4]) == "2 pending (Priority)"
    assert summary([]) == "no jobs in the queue"


def test_never_starts_names_the_settings_that_are_set():
    assert never_starts([("7_0", "PENDING", "Priority"), ("7_1", "PENDING", "Resources")], PARAMS) is None
    assert never_starts([("7_0", "RUNNING", "PartitionConfig")], PARAMS) is None  # only a pending job waits
    why = never_starts([("7_0", "RUNNING", "None"), ("7_1", "PENDING", "PartitionConfig")], PARAMS)
    assert why.startswith("job 7_1 can never start: SLURM holds it as PartitionConfig")
    assert "hydra.launcher.partition=gpu, hydra.launcher.cpus_per_task=64, hydra.launcher.gpus_per_node=1" in why
    assert "mem_gb" not in why  # not requested, so not the cause
    why = never_starts([("8_0", "PENDING", "PartitionTimeLimit")], PARAMS)
    assert "(hydra.launcher.partition=gpu, hydra.launcher.timeout_min=240;" in why

