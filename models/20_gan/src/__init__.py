"""GAN (Goodfellow et al. 2014): MLP generator and discriminator on MNIST, alternating updates."""
