"""GPT (Radford et al. 2018, 2019): a decoder-only Transformer language model on characters."""
