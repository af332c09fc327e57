"""Loading an encoder with a fresh classification head, and its tokenizer.

Three sources, chosen by the model config: a hub id or local directory (``from_pretrained``),
the weights shipped inside an installed Python package (offline), or a random BERT built from
a config with a character-level vocabulary made here (fast tests, no files at all).
"""

from __future__ import annotations

import importlib.util
import string
from pathlib import Path

import torch

from .config import UserError


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def char_vocab() -> dict[str, int]:
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    return {t: i for i, t in enumerate(tokens)}


def weights_location(model_cfg) -> str:
    """The directory or hub id that from_pretrained should read."""
    if model_cfg.package is not None:
        spec = importlib.util.find_spec(model_cfg.package)
        if spec is None or spec.origin is None:
            raise UserError(f"model '{model_cfg.name}' needs the Python package {model_cfg.package!r}: "
                            f"pip install {model_cfg.package.replace('_', '-')}")
        path = Path(spec.origin).parent / model_cfg.package_subdir
        if not path.is_dir():
            raise UserError(f"package {model_cfg.package!r} has no folder {model_cfg.package_subdir!r} ({path})")
        return str(path)
    return model_cfg.pretrained


def load_tokenizer(model_cfg):
    _quiet_transformers()
    from transformers import AutoTokenizer, BertTokenizer

    if model_cfg.random_init is not None:
        return BertTokenizer(vocab=char_vocab(), do_lower_case=True)
    where = weights_location(model_cfg)
    try:
        return AutoTokenizer.from_pretrained(where)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the tokenizer of model '{model_cfg.name}' from {where} ({str(e).splitlines()[0]})") from None


def load_model(model_cfg, num_labels: int, init_seed: int) -> torch.nn.Module:
    """Build the classifier; the new head's initialisation is fixed by ``init_seed``."""
    _quiet_transformers()
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    torch.manual_seed(init_seed)
    if model_cfg.random_init is not None:
        config = BertConfig(vocab_size=len(char_vocab()), num_labels=num_labels, **dict(model_cfg.random_init))
        return BertForSequenceClassification(config)
    where = weights_location(model_cfg)
    try:
        return AutoModelForSequenceClassification.from_pretrained(where, num_labels=num_labels)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model '{model_cfg.name}' from {where} ({str(e).splitlines()[0]})") from None
