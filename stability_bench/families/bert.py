"""BERT (Devlin et al. 2019) and the checkpoints of its architecture (MiniLM, the paper's bert-large-uncased)."""
from . import Family, register

register(Family("bert", ("bert",), layers="encoder.layer", pooler="bert.pooler"))
