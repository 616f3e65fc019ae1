"""U-Net (Ronneberger et al. 2015) on the ISBI 2012 membranes, against a global threshold."""
