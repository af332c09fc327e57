"""RoBERTa and the models of its layout (XLM-R, CamemBERT): no pooler in the classification model; the head
(dense + out_proj) reads the first token."""
from . import Family, register

register(Family("roberta", ("roberta", "xlm-roberta", "camembert"), layers="encoder.layer"))
