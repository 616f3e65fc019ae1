"""Faster R-CNN (Ren et al. 2015): region proposals, RoI pooling and a two-stage head."""
