"""DistilBERT: layers under ``transformer.layer``, feed-forward ``ffn.lin1``; ``pre_classifier`` plays the pooler."""
from . import Family, register

register(Family("distilbert", ("distilbert",), layers="transformer.layer", pooler="pre_classifier",
                intermediate=("ffn.lin1",)))
