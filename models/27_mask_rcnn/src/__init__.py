"""Mask R-CNN (He et al. 2017): RoIAlign and a mask branch on Faster R-CNN (models/25)."""
