"""ALBERT: one transformer layer's weights shared across the whole depth (no per-layer recipes), factorised
embeddings projected to the hidden size, feed-forward input ``ffn``."""
from . import Family, register

register(Family("albert", ("albert",), layers=None, embeddings=("embeddings", "encoder.embedding_hidden_mapping_in"),
                pooler="albert.pooler", intermediate=("ffn",)))
