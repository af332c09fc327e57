"""DeBERTa and DeBERTa-v2/v3: the relative-position embeddings (and their norm, and v2's convolution) sit in
the encoder beside the layers and feed every layer, so they count with the embeddings; the ContextPooler is the
pooler. DeBERTa v1 fails under bf16 autocast in transformers (first seen on the GPU, 2026-11-24)."""
from . import Family, register

register(Family("deberta", ("deberta", "deberta-v2"), layers="encoder.layer",
                embeddings=("embeddings", "encoder.rel_embeddings", "encoder.LayerNorm", "encoder.conv"), pooler="pooler",
                no_bf16=("deberta",),
                no_bf16_why="transformers' DeBERTa (v1) attention fills bf16 scores with float32's minimum, which "
                            "overflows bf16 (transformers issue 35332; DeBERTa-v2/v3 are not affected)"))
