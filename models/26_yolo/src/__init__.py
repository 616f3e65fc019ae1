"""YOLO (Redmon et al. 2016): the single-shot grid detector, on MNIST detection canvases."""
