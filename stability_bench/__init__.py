"""stability_bench: multi-seed fine-tuning stability harness (CWGNC Tables 1 and 2 and beyond)."""

__version__ = "0.1.0"
