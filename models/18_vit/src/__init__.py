"""ViT (Dosovitskiy et al. 2020): an image as a sequence of patches, read by a Transformer."""
