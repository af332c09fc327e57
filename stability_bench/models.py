"""Loading an encoder with a fresh classification head, and its tokenizer.

Three sources, chosen by the model config: a hub id or local directory (``from_pretrained``),
the weights shipped inside an installed Python package (offline), or a random model of any family
(``model.random_init.model_type``, BERT by default) with a character-level vocabulary made here (fast
tests, no files at all).
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
    where = str(model_cfg.pretrained)
    if where.startswith(("/", ".", "~")) and not Path(where).expanduser().is_dir():  # a path, not a hub id
        raise UserError(f"model.pretrained={where} is not a directory (give a checkpoint directory or a hub id)")
    return str(Path(where).expanduser()) if where.startswith("~") else where


def random_config(model_cfg, num_labels: int = 2):
    """The transformers config of a random model: ``model.random_init`` holds its ``model_type`` (default bert)
    and the config's sizes; the vocabulary is the character vocabulary built here ([PAD] = 0)."""
    from omegaconf import OmegaConf
    from transformers import CONFIG_MAPPING, AutoConfig

    from .families import FAMILIES

    kwargs = OmegaConf.to_container(model_cfg.random_init) if OmegaConf.is_config(model_cfg.random_init) \
        else dict(model_cfg.random_init)
    model_type = kwargs.pop("model_type", "bert")
    if model_type not in CONFIG_MAPPING:
        raise UserError(f"model.random_init.model_type={model_type} is not a model type of transformers "
                        f"(those with a family here: {', '.join(sorted(FAMILIES))})")
    try:
        return AutoConfig.for_model(model_type, vocab_size=len(char_vocab()), pad_token_id=0, num_labels=num_labels,
                                    **kwargs)
    except Exception as e:  # a value of the wrong type or range (transformers raises several kinds)
        raise UserError(f"model.random_init of model '{model_cfg.name}': {str(e).splitlines()[0]}") from None


def load_config(model_cfg):
    """The model's transformers config (its ``model_type`` names its family), without loading weights."""
    _quiet_transformers()
    if model_cfg.random_init is not None:
        return random_config(model_cfg)
    from transformers import AutoConfig

    where = weights_location(model_cfg)
    try:
        return AutoConfig.from_pretrained(where)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the config of model '{model_cfg.name}' from {where} ({str(e).splitlines()[0]})") from None


def max_input_length(config):
    """The most tokens the model's position table holds; None where positions need no table (rotary, or
    DeBERTa's relative positions: ``position_biased_input`` off). A model type without a family is taken to
    have BERT's absolute table."""
    from .families import family_of

    family = family_of(config)
    positions = family.positions if family else "absolute"
    n = getattr(config, "max_position_embeddings", None)
    if n is None or positions == "rotary" or getattr(config, "position_biased_input", True) is False:
        return None
    return n - (config.pad_token_id + 1 if positions == "after_padding" else 0)


def _takes_token_types(config) -> bool:
    """Does the family's classifier read token_type_ids (RoBERTa's has one type only; DistilBERT's none)?"""
    import inspect

    from transformers import AutoModelForSequenceClassification

    cls = AutoModelForSequenceClassification._model_mapping[type(config)]
    return "token_type_ids" in inspect.signature(cls.forward).parameters and getattr(config, "type_vocab_size", 2) >= 2


def load_tokenizer(model_cfg):
    _quiet_transformers()
    from transformers import AutoTokenizer, BertTokenizer

    if model_cfg.random_init is not None:
        inputs = ["input_ids", "token_type_ids", "attention_mask"]
        if not _takes_token_types(random_config(model_cfg)):
            inputs.remove("token_type_ids")
        return BertTokenizer(vocab=char_vocab(), do_lower_case=True, model_input_names=inputs)
    where = weights_location(model_cfg)
    try:
        return AutoTokenizer.from_pretrained(where)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the tokenizer of model '{model_cfg.name}' from {where} ({str(e).splitlines()[0]})") from None


def load_model(model_cfg, num_labels: int, init_seed: int) -> torch.nn.Module:
    """Build the classifier; the new head's initialisation is fixed by ``init_seed``."""
    _quiet_transformers()
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(init_seed)
    if model_cfg.random_init is not None:
        return AutoModelForSequenceClassification.from_config(random_config(model_cfg, num_labels))
    where = weights_location(model_cfg)
    try:
        return AutoModelForSequenceClassification.from_pretrained(where, num_labels=num_labels)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model '{model_cfg.name}' from {where} ({str(e).splitlines()[0]})") from None


def name_from_pretrained(pretrained: str) -> str:
    """A model's name in records and tables when it is given only by ``model.pretrained`` (``model=hub``): a hub
    id's ``org/name`` becomes ``org--name``, a local directory its last folder name."""
    if pretrained is None:
        return "hub"
    path = Path(str(pretrained)).expanduser()
    if path.is_dir():
        return path.resolve().name
    return str(pretrained).strip("/").replace("/", "--")
