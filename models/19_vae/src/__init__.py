"""VAE (Kingma and Welling 2013) on binarised MNIST, with a plain autoencoder as its baseline."""
