"""BERT (Devlin et al. 2018): a Transformer encoder pretrained as a masked language model."""
