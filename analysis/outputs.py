"""The analysis writes its outputs all or nothing: into a staging folder inside ``--out``, then each file is
moved into place by a rename, the outputs of an earlier analysis that this one did not write are removed,
and ``.manifest.json`` (the list of this analysis's files) is written last. A killed analysis leaves the
previous outputs as they were (plus a staging folder that the next analysis removes), never a 0-byte figure
or new tables beside old figures. Files in ``--out`` that no analysis wrote are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from stability_bench.records import atomic_write, pid_exists

MANIFEST = ".manifest.json"
STAGING = ".analysis-staging-"
# what an analysis writes (for an --out written before manifests existed)
OURS = re.compile(r"^(runs|summary|stats|expected_max|seed_variance|skipped|early|early_detection|dev_predictions"
                  r"|dev_labels|table\d+)\.(csv|md|tex)$|^report\.html$"
                  r"|^(strip|expected_max|early|table\d+|components?|unfreezing)_.*\.(png|pdf)$")


class OutputError(ValueError):
    """--out cannot be used; one line for the terminal."""


def _previous(out: Path) -> set[str]:
    try:
        return set(json.loads((out / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return {p.name for p in out.iterdir() if p.is_file() and OURS.match(p.name)}


@contextmanager
def staged(out: Path):
    """Yield a folder to write every output into; on a normal exit, swap its files into ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file: give a directory (created if it does not exist)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--out {out} cannot be created ({e.strerror or e})") from None
    for old in out.glob(f"{STAGING}*"):  # left by a killed analysis
        pid = old.name[len(STAGING):]
        if not (pid.isdigit() and pid_exists(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    stage = out / f"{STAGING}{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        new = sorted(p.name for p in stage.iterdir() if p.is_file())
        for name in new:
            os.replace(stage / name, out / name)
        for name in _previous(out) - set(new):
            (out / name).unlink(missing_ok=True)
        atomic_write(out / MANIFEST, lambda f: json.dump({"files": new}, f, indent=1))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
