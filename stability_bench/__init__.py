"""stability_bench: multi-seed fine-tuning stability harness (CWGNC Tables 1 and 2 and beyond)."""

from pathlib import Path

__version__ = "0.1.0"

# The Hydra configs (conf/): a wheel ships them inside the package (pyproject.toml maps conf/ to
# stability_bench/conf), so an installed tool runs from any folder; a checkout or an editable install reads
# the checkout's conf/ beside the package, where users edit and add presets.
_PACKAGE = Path(__file__).resolve().parent
CONF_DIR = _PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf"
