"""Tokenized task data: a disk cache shared by every seed, and dynamically padded batches.

A split is tokenized once per (task, data source, tokenizer, max length) and stored under the
cache directory; every later run of a sweep loads it. Batches are padded to their own longest
example, never to max_length.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from . import tasks
from .config import ConfigError
from .records import atomic_write, remove_stale_tmp

@dataclass
class Encoded:
    features: dict[str, list[list[int]]]  # input_ids (+ token_type_ids) per example, unpadded
    labels: list[int]
    pad_id: int

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> "Encoded":
        idx = list(indices)
        return Encoded({k: [v[i] for i in idx] for k, v in self.features.items()}, [self.labels[i] for i in idx], self.pad_id)

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.features["input_ids"]), dtype=np.int64, count=len(self))

    @cached_property
    def _flat(self) -> dict[str, np.ndarray]:
        """Each feature's examples end to end in one array: a batch is then a few array operations instead of a
        tensor built from a Python list per example (0.75 -> 0.07 ms per batch of 16 RTE examples: host time per
        step, which a GPU waits on; BENCHMARKS.md §5c)."""
        total = int(self.lengths.sum())
        return {k: np.fromiter((t for x in v for t in x), dtype=np.int64, count=total) for k, v in self.features.items()}

    @cached_property
    def _offsets(self) -> np.ndarray:
        return np.cumsum(self.lengths) - self.lengths  # where each example starts in the flat arrays

    def collate(self, indices) -> dict[str, torch.Tensor]:
        """Pad the chosen examples to the longest among them (input_ids with pad_id, token types with 0)."""
        idx = np.asarray(indices, dtype=np.int64)
        n = self.lengths[idx]
        mask = np.arange(n.max()) < n[:, None]  # row-major: filled example by example, token by token
        take = np.arange(int(n.sum())) + np.repeat(self._offsets[idx] - (np.cumsum(n) - n), n)

        def padded(key: str, pad: int) -> torch.Tensor:
            out = np.full(mask.shape, pad, dtype=np.int64)
            out[mask] = self._flat[key][take]
            return torch.from_numpy(out)

        batch = {"input_ids": padded("input_ids", self.pad_id), "attention_mask": torch.from_numpy(mask.astype(np.int64))}
        if "token_type_ids" in self.features:
            batch["token_type_ids"] = padded("token_type_ids", 0)
        batch["labels"] = torch.tensor([self.labels[i] for i in indices], dtype=torch.long)
        return batch


def tokenizer_fingerprint(tokenizer) -> str:
    vocab = sorted(tokenizer.get_vocab().items())
    h = hashlib.sha256(json.dumps([type(tokenizer).__name__, tokenizer.name_or_path, vocab,
                                   list(tokenizer.model_input_names)]).encode())
    return h.hexdigest()[:16]


def _tokenize(split: tasks.Split, tokenizer, max_length: int) -> dict[str, list[list[int]]]:
    columns = list(zip(*split.texts))
    enc = tokenizer(*columns, truncation=True, max_length=max_length)
    return {k: enc[k] for k in ("input_ids", "token_type_ids") if k in enc}


def load_encoded(task, data_cfg, tokenizer, cache_dir: Path) -> tuple[dict[str, Encoded], bool]:
    """Both splits of a task, tokenized; from the cache when present. Returns (splits, cache_hit)."""
    key = hashlib.sha256(json.dumps([
        task.name, list(task.text_fields), tasks.source_fingerprint(task, data_cfg.glue_dir),
        tokenizer_fingerprint(tokenizer), data_cfg.max_length,
    ]).encode()).hexdigest()[:16]
    path = cache_dir / "tokenized" / f"{task.name}-{key}.pt"
    if path.parent.exists():
        remove_stale_tmp(path.parent)  # left by a run killed while it wrote the cache
    if path.exists():
        try:
            stored = torch.load(path, weights_only=True)
            return {s: Encoded(v["features"], v["labels"], v["pad_id"]) for s, v in stored.items()}, True
        except Exception:  # a truncated cache file is rebuilt, never trusted
            pass
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = {}
    for split in ("train", "dev"):
        raw = tasks.load_split(task, data_cfg.glue_dir, split)
        out[split] = Encoded(_tokenize(raw, tokenizer, data_cfg.max_length), raw.labels, pad_id)
    stored = {s: {"features": e.features, "labels": e.labels, "pad_id": e.pad_id} for s, e in out.items()}
    try:
        atomic_write(path, lambda f: torch.save(stored, f), binary=True)
    except OSError as e:  # a results_dir that cannot be created, a read-only cache: the user's to change
        raise ConfigError(f"the tokenization cache {path.parent} cannot be written ({e.strerror or e}): give "
                          "results_dir (or data.cache_dir) a folder that can be created and written") from None
    return out, False


def select_subsets(splits: dict[str, Encoded], data_cfg) -> dict[str, Encoded]:
    """Training subset: a fixed random sample (data.subset_seed), the same for every run seed,
    kept in file order. Dev subset: the first N examples, so predictions align with the dev file.
    With ``data.heldout_fraction``: also ``heldout``, that fraction of the training subset, drawn with
    data.subset_seed too (the same examples for every run seed and recipe) and left out of training."""
    train, dev = splits["train"], splits["dev"]
    n = data_cfg.max_train_samples
    if n is not None and n < len(train):
        chosen = np.sort(np.random.RandomState(data_cfg.subset_seed).permutation(len(train))[:n])
        train = train.subset(chosen.tolist())
    m = data_cfg.max_eval_samples
    if m is not None and m < len(dev):
        dev = dev.subset(range(m))
    out = {"train": train, "dev": dev}
    fraction = data_cfg.get("heldout_fraction")
    if fraction is not None:
        k = tasks.heldout_count(len(train), fraction)
        if not 0 < k < len(train):
            raise ConfigError(f"data.heldout_fraction={fraction} of {len(train)} training examples "
                              f"holds out {k}: choose a fraction that leaves at least one example on each side")
        # another stream than the training subset's, so that holding out never changes which examples the subset has
        held = np.zeros(len(train), dtype=bool)
        held[np.random.RandomState([data_cfg.subset_seed, 1]).permutation(len(train))[:k]] = True
        out["train"], out["heldout"] = train.subset(np.flatnonzero(~held).tolist()), train.subset(np.flatnonzero(held).tolist())
    return out


GROUP_CHUNK = 50  # batches per length-sorted chunk when grouping by length


def train_batches(data: Encoded, batch_size: int, generator: torch.Generator, group_by_length: bool = False):
    """One epoch of shuffled batches; the order depends only on the generator (the data seed).

    With ``group_by_length``, the shuffled examples are cut into chunks of GROUP_CHUNK batches,
    each chunk is sorted by length into batches, and the batches are shuffled: batches hold
    examples of similar length (less padding) while every example is still seen once per epoch.
    """
    order = torch.randperm(len(data), generator=generator).tolist()
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if group_by_length:
        lengths = data.lengths
        span = GROUP_CHUNK * batch_size
        batches = []
        for s in range(0, len(order), span):
            chunk = sorted(order[s:s + span], key=lambda i: -lengths[i])
            batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    for batch in batches:
        yield data.collate(batch)


def eval_order(data: Encoded) -> list[int]:
    """Dev examples longest first: predictions do not depend on batch composition, and batches of
    similar length carry little padding (a dev pass is ~1.7x faster than in file order: BENCHMARKS.md)."""
    return sorted(range(len(data)), key=lambda i: -data.lengths[i])


def eval_batches(data: Encoded, batch_size: int, order: list[int]):
    for start in range(0, len(order), batch_size):
        yield data.collate(order[start:start + batch_size])
