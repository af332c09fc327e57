"""ELECTRA (discriminator): BERT's layers; small models project their embeddings to the hidden size; the
classification head (dense + out_proj) reads the first token, no pooler."""
from . import Family, register

register(Family("electra", ("electra",), layers="encoder.layer", embeddings=("embeddings", "embeddings_project")))
