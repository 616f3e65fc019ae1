"""Configuration of the Vision Transformer: the shared fields plus the encoder's own.

The paper's smallest model, ViT-B/16 (12 layers, width 768, 12 heads, MLP 3072, patches of 16 on
224x224 images, pre-trained on ImageNet-21k or JFT-300M), is far beyond a CPU budget. The
defaults are a ViT for 28x28 and 32x32 images sized for a few minutes on one thread: patches of
4 (49 or 64 of them), width 64, 6 layers, 4 heads, an MLP twice as wide (README, "Choices").
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName
from utils.registry import model_modules

# The size checks every Transformer shares (num_layers, d_model, n_heads, d_ff, dropout, Adam).
block_checks = model_modules("transformer").config.block_checks


@dataclass
class ViTConfig(BaseConfig):
    learns_by = BACKPROP
    # Side P of the square patches, in pixels (the paper: 14, 16 or 32 on 224x224 images). The
    # image's height and width must be multiples of it (create_model checks the data).
    patch_size: int = 4
    # Transformer encoder blocks L (ViT-B: 12).
    num_layers: int = 6
    # Width D of every token (ViT-B: 768).
    d_model: int = 64
    # Attention heads; d_head = d_model // n_heads (ViT-B: 12).
    n_heads: int = 4
    # Hidden units of the MLP of each block; 0 means 4 * d_model (the paper's ratio, Table 1).
    d_ff: int = 128
    # Dropout on the embeddings and after every dense layer but the qkv projections (the paper:
    # 0.1 for training from scratch on ImageNet, App. B.1; 0 on the large data sets).
    dropout: float = 0.0
    # F.scaled_dot_product_attention instead of the hand-written softmax(QK^T / sqrt(d)) V: equal
    # up to rounding (tests/test_vit.py).
    fused_attention: bool = False
    # Training-time augmentation: pad by crop_padding pixels, random crop of the original size,
    # random left-right flip (the ResNet's; the paper trains on ImageNet with crops and flips).
    augment: bool = False
    crop_padding: int = 4
    # AdamW (the paper: Adam, betas (0.9, 0.999), weight decay 0.1 in pre-training; DeiT's
    # recipe for training without extra data: AdamW, weight decay 0.05), decay on the matrices
    # only. Linear warm-up then cosine decay, stepped every optimizer step (App. B.1).
    optimizer: OptimizerName = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05
    grad_clip: float | None = 1.0  # the paper clips the global norm at 1
    batch_size: int = 128
    epochs: int = 2
    scheduler: SchedulerName = "warmup_cosine"
    warmup_steps: int = 200
    min_lr_ratio: float = 0.0

    def checks(self) -> list[tuple[bool, str]]:
        return (
            super().checks()
            + block_checks(self)
            + [
                (self.patch_size >= 1, f"patch_size must be >= 1 (got {self.patch_size})"),
                (self.crop_padding >= 0, f"crop_padding must be >= 0 (got {self.crop_padding})"),
            ]
        )
