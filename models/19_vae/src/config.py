"""Configuration of the VAE and its autoencoder baseline: the shared fields plus their own.

The defaults are the one-hidden-pair MLP of Kingma and Welling (2013, App. C) in the shape the
IWAE paper's "one stochastic layer" models use (Burda et al. 2016, Sec. 5: two deterministic
layers on each side), trained on binarised MNIST with Adam (Kingma and Welling used Adagrad; Adam
is its successor from the same group and converges faster on the same budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class VAEConfig(BaseConfig):
    learns_by = BACKPROP
    # "vae": Gaussian encoder q(z|x), Bernoulli decoder p(x|z), the ELBO (Kingma and Welling,
    # Sec. 2.4 and App. C); "autoencoder": the same two MLPs with a deterministic code, trained
    # to reconstruct (the baseline: no prior, so nothing to sample from).
    kind: Literal["vae", "autoencoder"] = "vae"
    # Hidden units per layer of the encoder, input side first; the decoder mirrors them (Burda
    # et al.'s one-layer model: 200-200 with 50 latents; Kingma and Welling: one layer of 500).
    hidden_sizes: list[int] = field(default_factory=lambda: [500, 500])
    # Dimension of z (Kingma and Welling Fig. 2: 3 to 200; Burda et al.: 50).
    latent_dim: int = 50
    # Nonlinearity of the hidden layers (the papers: tanh; relu trains faster with Adam here).
    activation: Literal["relu", "tanh"] = "relu"
    # How the grey MNIST pixels become the {0, 1} data a Bernoulli decoder models. "dynamic":
    # each training batch draws x ~ Bernoulli(intensity) afresh (Burda et al.'s protocol; the
    # test set is drawn once, seeded, by evaluate.py); "threshold": intensity > 0.5, fixed. The
    # two give different numbers and are not compared.
    binarize: Literal["dynamic", "threshold"] = "dynamic"
    # Importance samples k of the IWAE estimate of -log p(x) (Burda et al. eq. 8) that
    # evaluate.py reports (--iwae-k overrides it; 0: none), drawn iwae_chunk at a time so that
    # memory stays at iwae_chunk x batch_size x 784 logits. Validation during training reports
    # the ELBO only.
    iwae_k: int = 500
    iwae_chunk: int = 100
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    batch_size: int = 100
    # Pixels stay intensities in [0, 1]: they are the Bernoulli means, not features to centre.
    standardize: bool = False
    # 3,000 of MNIST's 60,000 training images for validation; the canonical 10,000 are the test.
    val_fraction: float = 0.05
    monitor: str = "val_nelbo"
    monitor_mode: Literal["max", "min"] = "min"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                all(h >= 1 for h in self.hidden_sizes),
                f"hidden_sizes must all be >= 1 (got {self.hidden_sizes})",
            ),
            (self.latent_dim >= 1, f"latent_dim must be >= 1 (got {self.latent_dim})"),
            (self.iwae_k >= 0, f"iwae_k must be >= 0 (0: no IWAE estimate) (got {self.iwae_k})"),
            (self.iwae_chunk >= 1, f"iwae_chunk must be >= 1 (got {self.iwae_chunk})"),
            (
                self.kind == "vae" or self.monitor.endswith("_recon"),
                f"an autoencoder reports only recon: monitor val_recon (got {self.monitor!r})",
            ),
            (
                not self.standardize,
                "standardize must be false: the pixels are Bernoulli means in [0, 1]",
            ),
        ]
