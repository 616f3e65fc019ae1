"""GoogLeNet: Inception modules with 1x1 reductions (Szegedy et al., 2014).

Paper: C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke
and A. Rabinovich, "Going Deeper with Convolutions", arXiv:1409.4842, 2014 (CVPR 2015).
Section and table numbers are the paper's.

What is implemented:
- The Inception module (Sec. 4, Fig. 2b): four branches on the same input, concatenated on the
  channel axis: a 1x1 convolution; a 1x1 reduction then a 3x3 convolution; a 1x1 reduction
  then a 5x5 convolution; a 3x3 max-pool (stride 1) then a 1x1 projection. The 1x1 reductions
  are the paper's idea: they cut the channels before the expensive 3x3 and 5x5 filters, so the
  network grows wide and deep at a modest cost. ReLU after every convolution.
- The network of Table 1 for small images: a stem, modules 3a-3b, max-pool, 4a-4e, max-pool,
  5a-5b, global average pooling instead of fully connected layers (Sec. 5), dropout 0.4 and a
  linear classifier. The module widths are Table 1's (config.INCEPTION_MODULES), scaled.
- The auxiliary classifiers (Sec. 5), optional (config.aux_classifiers): after 4a and 4d, an
  average pool to 4x4, a 1x1 convolution with 128 filters, a fully connected layer of 1024
  units, dropout 0.7 and a linear classifier; their losses are added with weight 0.3 during
  training and they are ignored at inference.
- Mean subtraction of the input (Sec. 5: "RGB color channels with mean subtraction").

Deliberately left out or changed:
- The stem for 32-pixel images: 3x3 conv, one max-pool (32 -> 16), 1x1 conv, 3x3 conv, in
  place of the 7x7/2 conv, max-pool, 1x1 conv, 3x3 conv, max-pool that bring 224 down to 28.
  The modules then work on 16, 8 and 4 pixel maps (the paper: 28, 14 and 7). Widths are a
  quarter of the paper's.
- Local response normalisation in the stem is left out; batch normalisation (Inception-v2,
  Ioffe & Szegedy 2015) is an option, on by default (config.py says why).
- The "two 3x3 instead of 5x5" branch of BN-Inception is an option (config.five_by_five).
- Polyak averaging, the photometric distortions, multi-crop testing and the 7-model ensemble
  of the ILSVRC entry: competition machinery, not the architecture.

How the auxiliary outputs reach the loss: GoogLeNet defines its own ``step(batch) ->
StepOutput`` (the engine's contract, engine/steps.py and docs/engine.md section 2) instead of the
classifier default. ``logits_and_aux(x)`` returns the main logits and, in training, the auxiliary
heads' logits; ``step`` adds aux_weight times each head's cross-entropy to the main one (Sec. 5)
and reports ``loss`` (the total), ``main_loss`` (the main head's share alone, only while the heads
are on) and ``accuracy`` of the main head. In evaluation the heads are not run and the loss is the
plain cross-entropy. ``forward(x)`` is the main head's logits (B, num_classes) only, and the
step's outputs are the main head's predicted classes (the confusion matrix reads them).

Known outcomes, asserted in tests: an Inception module outputs the sum of its branches'
channels at the input's size; the 1x1 reductions cut the module's weights and FLOPs several
times against the same module without them; the auxiliary heads add to the training loss and
receive gradients, and are skipped in eval mode.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from config import AUX_AFTER, INCEPTION_MODULES, STEM_WIDTHS, GoogLeNetConfig
from torch import nn

from data_utils import DatasetSplits
from data_utils.transforms import channel_stats
from engine.steps import Mean, StepOutput

POOL_AFTER = ("3b", "4e")  # the max-pools between the Inception stages (Table 1)

# ---------------------------------------------------------------------------------- helpers


def conv_relu(
    in_channels: int, out_channels: int, kernel_size: int, batch_norm: bool
) -> nn.Sequential:
    """A kxk convolution with "same" padding, optional BN, then ReLU (every conv of the paper)."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not batch_norm
        )
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def scale(widths: Sequence[int], width_multiplier: float) -> tuple[int, ...]:
    """Scale a row of Table 1, at least one channel each."""
    return tuple(max(1, round(width * width_multiplier)) for width in widths)


# --------------------------------------------------------------------------- the Inception module


class Inception(nn.Module):
    """Four parallel branches concatenated on channels (Fig. 2b); the map size is kept.

    Args:
        in_channels: Channels of the input.
        widths: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), a row of Table 1.
        batch_norm: BN after every convolution.
        five_by_five: "5x5" (the paper) or "double_3x3" (two 3x3 convolutions, Inception-v2).
        reduce: False drops the 1x1 reductions of the 3x3 and 5x5 branches (the "naive"
            module of Fig. 2a, with the pool branch still projected), to measure what they save.
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int],
        batch_norm: bool = True,
        five_by_five: str = "5x5",
        reduce: bool = True,
    ) -> None:
        super().__init__()
        n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj = widths
        if not reduce:
            n3x3_reduce = n5x5_reduce = in_channels  # the big filters see every input channel
        self.branch1 = conv_relu(in_channels, n1x1, 1, batch_norm)
        self.branch2 = nn.Sequential(
            *([conv_relu(in_channels, n3x3_reduce, 1, batch_norm)] if reduce else []),
            conv_relu(n3x3_reduce, n3x3, 3, batch_norm),
        )
        if five_by_five == "5x5":
            wide = [conv_relu(n5x5_reduce, n5x5, 5, batch_norm)]
        else:
            wide = [
                conv_relu(n5x5_reduce, n5x5, 3, batch_norm),
                conv_relu(n5x5, n5x5, 3, batch_norm),
            ]
        self.branch3 = nn.Sequential(
            *([conv_relu(in_channels, n5x5_reduce, 1, batch_norm)] if reduce else []), *wide
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv_relu(in_channels, pool_proj, 1, batch_norm)
        )
        self.out_channels = n1x1 + n3x3 + n5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        # 4 x (B, C_i, H, W) -> (B, C_1 + C_2 + C_3 + C_4, H, W): "filter concatenation"
        return torch.cat(branches, dim=1)


class AuxiliaryClassifier(nn.Module):
    """A side head on an intermediate stage (Sec. 5), used only in training.

    Average pool to 4x4 (the paper: 5x5 stride 3 on 14x14 maps, also 4x4), 1x1 conv with 128
    filters, FC 1024, dropout 0.7, linear classifier; the two widths are scaled.
    """

    def __init__(
        self, in_channels: int, num_classes: int, width_multiplier: float, batch_norm: bool
    ) -> None:
        super().__init__()
        reduce, hidden = scale((128, 1024), width_multiplier)
        self.conv = conv_relu(in_channels, reduce, 1, batch_norm)
        self.fc = nn.Linear(reduce * 4 * 4, hidden)
        self.dropout = nn.Dropout(0.7)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, 4))  # (B, C, H, W) -> (B, 128w, 4, 4)
        x = F.relu(self.fc(x.flatten(1)))  # (B, 128w * 16) -> (B, 1024w)
        return self.classifier(self.dropout(x))  # -> (B, num_classes)


# ------------------------------------------------------------------------------ the network


class GoogLeNet(nn.Module):
    """The nine Inception modules of Table 1 on a small-image stem, with optional aux heads.

    Args:
        config: Width multiplier (of Table 1's widths), BN, the third branch ("5x5" or
            "double_3x3"), the auxiliary heads and their loss weight, dropout (config.py).
        in_channels: Image channels.
        num_classes: Classes of the final linear layer.
        mean_rgb: Per-channel training mean (C,), subtracted from every input.
    """

    def __init__(
        self,
        config: GoogLeNetConfig,
        in_channels: int,
        num_classes: int,
        mean_rgb: torch.Tensor,
    ) -> None:
        super().__init__()
        assert mean_rgb.shape == (in_channels,), "mean_rgb must hold one value per channel"
        self.register_buffer("mean_rgb", mean_rgb.view(-1, 1, 1).clone())  # (C,) -> (C, 1, 1)
        self.in_channels = in_channels
        self.aux_weight = config.aux_weight
        width_multiplier, batch_norm = config.width_multiplier, config.batch_norm
        c1, c2, c3 = scale(STEM_WIDTHS, width_multiplier)
        # the paper's stem order (conv, max-pool, 1x1 conv, 3x3 conv) with one pool instead of 3
        self.stem = nn.Sequential(
            conv_relu(in_channels, c1, 3, batch_norm),  # (B, C, 32, 32) -> (B, 64w, 32, 32)
            nn.MaxPool2d(3, stride=2, padding=1),  # -> (B, 64w, 16, 16)
            conv_relu(c1, c2, 1, batch_norm),
            conv_relu(c2, c3, 3, batch_norm),  # -> (B, 192w, 16, 16)
        )
        self.inception = nn.ModuleDict()
        self.aux = nn.ModuleDict()
        channels = c3
        for name, widths in INCEPTION_MODULES.items():
            module = Inception(
                channels, scale(widths, width_multiplier), batch_norm, config.five_by_five
            )
            self.inception[name] = module
            channels = module.out_channels
            if config.aux_classifiers and name in AUX_AFTER:
                self.aux[name] = AuxiliaryClassifier(
                    channels, num_classes, width_multiplier, batch_norm
                )
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)  # 16 -> 8 -> 4 (28: 14 -> 7 -> 4)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (B, num_classes) of the main head; the auxiliary heads are not run."""
        logits, _ = self.logits_and_aux(x, with_aux=False)
        return logits

    def logits_and_aux(
        self, x: torch.Tensor, with_aux: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The main logits (B, num_classes) and a list of the auxiliary heads' (B, num_classes).

        The list is filled in training only: empty in eval mode, without heads, or with
        ``with_aux`` False.
        """
        assert x.dim() == 4 and x.shape[1] == self.in_channels, (
            f"expected images (B, {self.in_channels}, H, W), got {tuple(x.shape)}: "
            "was the model built for another data set?"
        )
        x = self.stem(x - self.mean_rgb)  # (B, C, H, W) -> (B, 192w, H/2, W/2)
        aux_logits = []
        for name, module in self.inception.items():
            x = module(x)  # (B, C_in, h, w) -> (B, C_out, h, w)
            if with_aux and self.training and name in self.aux:
                aux_logits.append(self.aux[name](x))
            if name in POOL_AFTER:
                x = self.pool(x)  # (B, C, h, w) -> (B, C, h/2, w/2)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # global average pool: -> (B, 1024w)
        logits = self.fc(self.dropout(x))  # -> (B, num_classes)
        return logits, aux_logits

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        """One batch -> the loss and named metrics (the engine's contract, engine/steps.py).

        In training with auxiliary heads the loss is the main cross-entropy plus aux_weight times
        each head's (Sec. 5: "their loss gets added to the total loss of the network with a
        discount weight"); ``main_loss`` reports the main head's share. In evaluation the heads
        are not run and the loss is the plain cross-entropy. Outputs: predicted classes (B,).
        """
        x, y = batch  # (B, C, H, W) images, (B,) class indices
        n = len(y)
        logits, aux_logits = self.logits_and_aux(x)
        # n == 0 is a DDP padding batch: a zero loss that keeps every used parameter in the graph
        main_loss = F.cross_entropy(logits, y) if n else logits.sum() * 0.0
        loss = main_loss
        for aux in aux_logits:
            loss = loss + self.aux_weight * (F.cross_entropy(aux, y) if n else aux.sum() * 0.0)
        pred = logits.detach().argmax(dim=1)  # (B, num_classes) -> (B,)
        metrics = {"loss": Mean(loss.detach() * n, n), "accuracy": Mean((pred == y).sum(), n)}
        if aux_logits:
            metrics["main_loss"] = Mean(main_loss.detach() * n, n)
        return StepOutput(loss, metrics, outputs=pred)


# -------------------------------------------------------------------------- the ModelSpec hooks


def create_model(config: GoogLeNetConfig, splits: DatasetSplits) -> GoogLeNet:
    """Build the network for a config and an image data set."""
    shape = splits.input_shape
    assert len(shape) == 3, f"GoogLeNet needs images (C, H, W), got {shape}"
    mean_rgb, _ = channel_stats(splits.x_train)  # on the [0, 1] scale, as to_float delivers
    return GoogLeNet(config, shape[0], splits.num_classes, mean_rgb)


def create_criterion(config: GoogLeNetConfig) -> Callable:
    """The main head's plain cross-entropy, which ModelSpec asks for.

    Training and evaluation go through ``GoogLeNet.step``, which never calls it (the engine uses
    a criterion only for models without ``step``); tools that score ``forward(x)`` directly get
    the main head's loss.
    """
    return F.cross_entropy
