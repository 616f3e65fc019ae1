"""The Vision Transformer (Dosovitskiy et al. 2020): an image is a sequence of 16x16 words.

Paper: A. Dosovitskiy, L. Beyer, A. Kolesnikov, D. Weissenborn, X. Zhai, T. Unterthiner,
M. Dehghani, M. Minderer, G. Heigold, S. Gelly, J. Uszkoreit and N. Houlsby, "An Image is Worth
16x16 Words: Transformers for Image Recognition at Scale", arXiv:2010.11929 (ICLR 2021). Section
and equation numbers below are the paper's.

What is implemented, in the paper's order (Sec. 3.1, Fig. 1, eq. 1-4):
- Patch embedding (eq. 1): the image (C, H, W) is cut into N = HW / P^2 patches of P x P pixels,
  each flattened to a vector of P^2 C values and mapped by one trainable linear projection E to
  D dimensions. Written as the reshape and the linear layer it is; a stride-P convolution with
  P x P kernels computes the same numbers (tested).
- The class token (eq. 1): a learned vector x_class prepended to the patch tokens; its state at
  the encoder's output, after a final layer norm (eq. 4), is the image's representation y, read
  by the classification head (one linear layer, the paper's head when fine-tuning).
- Learned 1-D position embeddings E_pos (N + 1, D) added to the tokens (eq. 1; App. D.4 finds
  2-D or relative variants no better). Without them the encoder is blind to where a patch was:
  permuting the patches would leave the class token's output unchanged (tested).
- The Transformer encoder (eq. 2-3): L pre-norm blocks z' = MSA(LN(z)) + z, z = MLP(LN(z')) + z'
  with a GELU MLP. The blocks are the Transformer's (models/15_transformer/src/model.py:
  EncoderBlock with ``norm_first``, its hand-written multi-head attention, layer norm and
  feed-forward network), imported as 16_gpt imports them; F.scaled_dot_product_attention is
  used only behind ``fused_attention`` (tested equal).
- Per-channel standardisation of the input with training-set statistics (stored as buffers, so a
  checkpoint carries them), and optionally the ResNet's augmentation (random crop after padding,
  random flip) of training batches through the ``train_transform`` hook.

Deliberately left out: pre-training on ImageNet-21k or JFT-300M and fine-tuning at a higher
resolution (with 2-D interpolation of the position embeddings, Sec. 3.2): the point here is the
opposite regime, training from scratch on small data, where the paper itself reports that ViT
loses to ResNets (Sec. 4.3, Fig. 3-4); the hybrid with a ResNet stem (Sec. 3.1); the MLP head
with a hidden layer used in pre-training; the paper's size (ViT-B/16: 86M parameters; here
about 0.2M). Initialisation follows the reference code's spirit (truncated normal 0.02 for the
position embeddings, zeros for the class token), not every detail of it (README).

Known outcomes, asserted in tests: the patch embedding equals a stride-P convolution; the
position embeddings are the only thing that tells the encoder the order of the patches; the
loss falls on a fixed batch; the fused kernel matches; training resumes exactly with dropout.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils import DatasetSplits, TrainTransform
from data_utils.transforms import random_crop, random_horizontal_flip
from engine.steps import Mean, StepOutput
from engine.workflow import build_optimizer, decay_matrices_only
from utils.exceptions import ConfigError
from utils.registry import model_modules

tf = model_modules("transformer").model  # layer norm, attention, feed-forward, the block

# ---------------------------------------------------------------------------------- helpers


def patchify(x: Tensor, patch_size: int) -> Tensor:
    """Eq. 1's x_p: (B, C, H, W) -> (B, N, P^2 C), patches in row-major order, each flattened
    channel-major (C, P, P), the order a (D, C, P, P) convolution kernel reads them in."""
    b, c, h, w = x.shape
    p = patch_size
    x = x.view(b, c, h // p, p, w // p, p)  # (B, C, H/P, P, W/P, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, P, P): the grid first
    return x.reshape(b, (h // p) * (w // p), c * p * p)  # (B, N, C P P)


def pixel_stats(splits: DatasetSplits, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std (C,) of the training images on the scale the loaders deliver
    (after ``splits.transform``), in chunks so that no float copy of the whole set is made."""
    total = torch.zeros(splits.input_shape[0], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(splits.x_train), chunk):
        x = splits.x_train[start : start + chunk]
        x = (splits.transform(x) if splits.transform is not None else x).to(torch.float64)
        total += x.sum(dim=(0, 2, 3))  # (B, C, H, W) -> (C,)
        squares += x.pow(2).sum(dim=(0, 2, 3))
    count = len(splits.x_train) * splits.input_shape[1] * splits.input_shape[2]
    mean = total / count
    std = (squares / count - mean**2).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def augment(x: Tensor, generator: torch.Generator, *, padding: int) -> Tensor:
    """Random crop after zero padding, then random left-right flip: (B, C, H, W), training only."""
    x = random_crop(x, padding, generator=generator)  # (B, C, H, W), shifted
    return random_horizontal_flip(x, generator=generator)  # (B, C, H, W), half mirrored


# ----------------------------------------------------------------------------- the embedding


class PatchEmbedding(nn.Module):
    """Eq. 1 without the positions: [x_class; x_p^1 E; ...; x_p^N E], (B, C, H, W) -> (B, N+1, D).

    Args:
        in_channels: Image channels C.
        patch_size: Side P of the patches.
        d_model: Width D of the tokens.
    """

    def __init__(self, in_channels: int, patch_size: int, d_model: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(in_channels * patch_size**2, d_model)  # E: (P^2 C) -> D
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))  # x_class, learned

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.proj(patchify(x, self.patch_size))  # (B, N, P^2 C) -> (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (1, 1, D) -> (B, 1, D)
        return torch.cat([cls, tokens], dim=1)  # (B, N + 1, D): the class token first


# ------------------------------------------------------------------------------ the network


class ViT(nn.Module):
    """Patch embedding, class token and positions, L pre-norm encoder blocks, LN, linear head.

    Args:
        image_shape: (C, H, W) of the inputs; H and W multiples of ``patch_size``.
        num_classes: Classes of the head.
        patch_size: Side P of the patches.
        num_layers: Encoder blocks L.
        d_model: Width D of every token.
        n_heads: Attention heads per block.
        d_ff: Hidden units of each block's MLP (0: 4 * D).
        dropout: On the embeddings, the attention weights, the MLP's hidden layer and each
            residual branch.
        fused: Attention through F.scaled_dot_product_attention.
        mean, std: Per-channel statistics (C,) of the training images the input is standardised
            with (default 0 and 1: none).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        patch_size: int,
        num_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int = 0,
        dropout: float = 0.0,
        fused: bool = False,
        mean: Tensor | None = None,
        std: Tensor | None = None,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        assert h % patch_size == 0 and w % patch_size == 0, (
            f"a {h}x{w} image does not cut into patches of {patch_size}: choose a patch_size "
            f"that divides both"
        )
        self.image_shape, self.dropout = tuple(image_shape), dropout
        self.num_patches = (h // patch_size) * (w // patch_size)  # N = HW / P^2
        self.register_buffer("mean", torch.zeros(c) if mean is None else mean.clone())  # (C,)
        self.register_buffer("std", torch.ones(c) if std is None else std.clone())  # (C,)
        self.embed = PatchEmbedding(c, patch_size, d_model)
        self.positions = nn.Parameter(torch.zeros(1, self.num_patches + 1, d_model))  # E_pos
        d_ff = d_ff or 4 * d_model
        self.blocks = nn.ModuleList(
            tf.EncoderBlock(d_model, n_heads, d_ff, dropout, True, "gelu", fused)
            for _ in range(num_layers)
        )
        self.norm = tf.LayerNorm(d_model)  # eq. 4: y = LN(z_L^0)
        self.head = nn.Linear(d_model, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Linear layers Xavier-uniform with zero biases, the class token zero, positions and the
        head N(0, 0.02) truncated at two standard deviations. The reference implementation
        zeroes the head; a small random one instead lets the first step's gradient reach every
        layer (a zero head passes none back) and starts every class near the same score."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for weight in (self.positions, self.head.weight):
            nn.init.trunc_normal_(weight, std=0.02, a=-0.04, b=0.04)
        nn.init.zeros_(self.embed.cls_token)

    def encode(self, x: Tensor) -> Tensor:
        """Every token at the encoder's output, after the final layer norm: (B, N + 1, D)."""
        assert x.dim() == 4 and tuple(x.shape[1:]) == self.image_shape, (
            f"expected images (B, {', '.join(map(str, self.image_shape))}), got "
            f"{tuple(x.shape)}: was the model built for another data set?"
        )
        x = (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)  # (B, C, H, W)
        z = self.embed(x) + self.positions  # eq. 1: (B, N + 1, D) + (1, N + 1, D)
        z = F.dropout(z, self.dropout, self.training)
        for block in self.blocks:
            z = block(z)  # eq. 2-3: (B, N + 1, D), every token attends to every token
        return self.norm(z)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (B, num_classes) for images (B, C, H, W): the head on the class token."""
        return self.head(self.encode(x)[:, 0])  # (B, D) -> (B, num_classes)

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        """One batch -> the cross-entropy of the head's logits, accuracy, and the predicted
        classes as outputs (the engine's contract, engine/steps.py; the confusion matrix reads
        them)."""
        x, y = batch  # (B, C, H, W) images, (B,) class indices
        n = len(y)
        logits = self(x)  # (B, num_classes)
        # n == 0 is a DDP padding batch: a zero loss that keeps every parameter in the graph
        loss = F.cross_entropy(logits, y) if n else logits.sum() * 0.0
        pred = logits.detach().argmax(dim=1)  # (B,)
        metrics = {"loss": Mean(loss.detach() * n, n), "accuracy": Mean((pred == y).sum(), n)}
        return StepOutput(loss, metrics, outputs=pred)

    def configure_optimizers(self, config: Any) -> torch.optim.Optimizer:
        """AdamW (or Adam) with weight decay on the matrices only: not on biases, layer-norm
        gains, the class token or the position embeddings (vectors and tokens, DeiT's rule)."""
        # the class token and positions are (1, T, D) tensors, not matrices: no decay
        return build_optimizer(config, self, decay_matrices_only(self, config.weight_decay))


# -------------------------------------------------------------------------- the ModelSpec hooks


def create_model(config: Any, splits: DatasetSplits) -> ViT:
    """The ViT for a config and an image data set; standardised with its training statistics.

    Raises:
        ConfigError: The images are not (C, H, W), or ``patch_size`` does not divide H and W.
    """
    shape = tuple(splits.input_shape)
    if len(shape) != 3:
        raise ConfigError(f"the ViT needs images (C, H, W), not inputs of shape {shape}")
    p = config.patch_size
    if shape[1] % p or shape[2] % p:
        divisors = [k for k in range(1, min(shape[1:]) + 1) if shape[1] % k == shape[2] % k == 0]
        raise ConfigError(
            f"patch_size {p} does not divide the {shape[1]}x{shape[2]} images of {splits.name}; "
            f"patch sizes that do: {divisors}"
        )
    mean, std = pixel_stats(splits)
    return ViT(
        shape,
        splits.num_classes,
        patch_size=p,
        num_layers=config.num_layers,
        d_model=config.d_model,
        n_heads=config.n_heads,
        d_ff=config.d_ff,
        dropout=config.dropout,
        fused=config.fused_attention,
        mean=mean,
        std=std,
    )


def train_transform(config: Any, splits: DatasetSplits) -> TrainTransform | None:
    """Random crop and flip of training batches (the ModelSpec hook); None without ``augment``."""
    return partial(augment, padding=config.crop_padding) if config.augment else None


def create_criterion(config: Any) -> Callable | None:
    """None: the model's step computes the cross-entropy of the head's logits."""
    return None
