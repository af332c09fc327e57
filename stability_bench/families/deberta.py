"""DeBERTa and DeBERTa-v2/v3: the relative-position embeddings (and their norm, and v2's convolution) sit in
the encoder beside the layers and feed every layer, so they count with the embeddings; the ContextPooler is the
pooler."""
from . import Family, register

register(Family("deberta", ("deberta", "deberta-v2"), layers="encoder.layer",
                embeddings=("embeddings", "encoder.rel_embeddings", "encoder.LayerNorm", "encoder.conv"), pooler="pooler"))
