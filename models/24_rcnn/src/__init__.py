"""R-CNN (Girshick et al. 2014): region proposals and a CNN on each warped region, on MNIST
detection canvases."""
