"""RoBERTa and the models of its layout (XLM-R, CamemBERT): no pooler in the classification model; the head
(dense + out_proj) reads the first token. Position ids start after the padding index (1 in roberta-base), so
its 514 position embeddings hold 512 tokens."""
from . import Family, register

register(Family("roberta", ("roberta", "xlm-roberta", "camembert"), layers="encoder.layer", positions="after_padding"))
