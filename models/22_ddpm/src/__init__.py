"""DDPM (Ho, Jain and Abbeel 2020) on MNIST: noising, the epsilon-prediction loss, sampling."""
