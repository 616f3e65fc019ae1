"""Denoising diffusion probabilistic models (Ho, Jain and Abbeel 2020), on 28x28 images.

Paper: J. Ho, A. Jain and P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020
(arXiv:2006.11239). The skipped-step sampler is from A. Nichol and P. Dhariwal, "Improved
Denoising Diffusion Probabilistic Models", ICML 2021, Sec. 4 ("respacing").

What is implemented, in the paper's order:

- the forward (noising) process q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I) with the
  paper's linear schedule beta_1 = 1e-4 ... beta_T = 0.02, T = 1000 (Sec. 4), both one step at a
  time (``q_step``) and in closed form, q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0,
  (1 - alpha_bar_t) I) (eq. 4, ``q_sample``);
- the noise-prediction network eps_theta(x_t, t): a small U-Net written here (Sec. 4 and App. B:
  residual blocks with group normalisation, a sinusoidal embedding of t added in every block,
  self-attention at the lowest resolution, 7x7), with far fewer channels than the paper's 35.7M
  parameter CIFAR-10 model so that it trains on a CPU;
- the simple loss L_simple = E_{t, x_0, eps} ||eps - eps_theta(sqrt(alpha_bar_t) x_0 +
  sqrt(1 - alpha_bar_t) eps, t)||^2 (eq. 14, Algorithm 1), t uniform in {1, ..., T};
- ancestral sampling (Algorithm 2): x_T ~ N(0, I), then for t = T, ..., 1
  x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z
  with sigma_t^2 = beta_t: T network evaluations per sample;
- an exponential moving average of the weights, which the paper samples from (App. B, decay
  0.9999; here 0.999 with a warm-up, as the run is ~100x shorter). Evaluation and sampling use it.

Not the paper's, offered because T = 1000 network evaluations per sample are slow on a CPU:
``sample(..., steps=S)`` with S < T runs the same ancestral update on S evenly spaced steps of
the trained chain (Nichol and Dhariwal's respacing: alpha_bar kept at the chosen steps, beta
recomputed between them). The README and every number say which sampler made them.

Deliberately left out: the paper's variational bound L_vlb and its discrete decoder (only
needed for log-likelihoods, which the paper reports from the same model), the learned or
sigma_t^2 = beta_tilde_t variances (the paper found sigma_t^2 = beta_t as good), the random
horizontal flips of CIFAR-10 (digits are not symmetric) and dropout (0 by default, a field).

Known outcomes, asserted in tests: the closed-form q(x_t | x_0) has the mean and variance of
the step-by-step chain (and matches it in a two-sample test); alpha_bar_T is close to 0, so x_T
is nearly N(0, I); samples are deterministic under a seed; the loss falls on a fixed batch;
training resumes exactly, EMA included.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.steps import Mean, StepOutput
from engine.workflow import build_optimizer

# ------------------------------------------------------------------------------------ helpers


def linear_betas(num_steps: int, beta_start: float, beta_end: float) -> Tensor:
    """beta_1 ... beta_T, evenly spaced (Sec. 4: 1e-4 to 0.02 for T = 1000), float64: (T,)."""
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """The Transformer's sinusoidal position code of integer steps t (B,) -> (B, dim).

    Half the features are sin(t * w_k), half cos(t * w_k), with frequencies w_k from 1 down to
    1/10000 geometrically (Vaswani et al. 2017, Sec. 3.5; DDPM App. B).
    """
    assert dim % 2 == 0, f"the time embedding needs an even size (got {dim})"
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)  # (half,)
    angles = t.float()[:, None] * freqs[None, :]  # (B, 1) * (1, half) -> (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, dim)


def to_unit_range(x: Tensor) -> Tensor:
    """Model images in [-1, 1] (x_0 may overshoot; the paper's code clips it too) -> [0, 1]."""
    return ((x.clamp(-1.0, 1.0) + 1.0) / 2.0).cpu()


def group_norm(channels: int) -> nn.GroupNorm:
    """Group normalisation (the paper's replacement of weight normalisation): 8 groups, or
    fewer when the channels do not divide."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


# ------------------------------------------------------------------------- the U-Net's parts


class ResidualBlock(nn.Module):
    """GN, SiLU, 3x3 conv; + the time embedding projected to the channels; GN, SiLU, dropout,
    3x3 conv; added to the input (a 1x1 conv when the channels change). PyTorch's default
    initialisation (the paper's code starts the second conv at zero, which leaves every other
    weight of the block without a gradient on the first step)."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = group_norm(in_channels), nn.Conv2d(
            in_channels, out_channels, 3, 1, 1
        )
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2, self.drop = group_norm(out_channels), nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """x (B, C_in, H, W), emb (B, time_dim) -> (B, C_out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        h = h + self.time(emb)[:, :, None, None]  # (B, C_out) -> (B, C_out, 1, 1), per channel
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """One-head self-attention over the H * W positions of a feature map, residual (App. B: at
    16x16 in the paper's 32x32 model; here at 7x7)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).chunk(3, dim=1)  # 3 x (B, C, HW)
        scores = torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c)  # (B, HW, HW)
        attended = torch.einsum("bij,bcj->bci", scores.softmax(dim=-1), v)  # (B, C, HW)
        return x + self.out(attended.view(b, c, h, w))  # (B, C, HW) -> (B, C, H, W)


class UNet(nn.Module):
    """eps_theta(x_t, t): (B, C, H, W) noisy images and steps (B,) -> predicted noise, same shape.

    One residual block per resolution on the way down (28 -> 14 -> 7 with channel_mults of
    three), a middle of block, attention, block at 7x7, and one block per resolution on the way
    up, each fed the matching down-path features (the U-Net's skip connections).

    Args:
        in_channels: Image channels (1 for MNIST).
        base_channels: Channels at full resolution (the paper's CIFAR-10 model: 128).
        channel_mults: Channels of each resolution as multiples of base_channels.
        attention: Self-attention in the middle, at the lowest resolution.
        dropout: In every residual block (the paper: 0.1 on CIFAR-10).
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int,
        channel_mults: list[int],
        attention: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.base_channels = base_channels
        time_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(base_channels, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        widths = [base_channels * m for m in channel_mults]
        self.stem = nn.Conv2d(in_channels, base_channels, 3, 1, 1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        channels = base_channels
        for i, width in enumerate(widths):
            self.down.append(ResidualBlock(channels, width, time_dim, dropout))
            channels = width
            if i < len(widths) - 1:  # a stride-2 conv halves the resolution: 28 -> 14 -> 7
                self.downsample.append(nn.Conv2d(channels, channels, 3, 2, 1))
        self.mid1 = ResidualBlock(channels, channels, time_dim, dropout)
        self.attn = SelfAttention(channels) if attention else nn.Identity()
        self.mid2 = ResidualBlock(channels, channels, time_dim, dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, width in reversed(list(enumerate(widths))):
            self.up.append(ResidualBlock(channels + width, width, time_dim, dropout))
            channels = width
            if i > 0:  # nearest-neighbour doubling, then a 3x3 conv (App. B)
                self.upsample.append(nn.Conv2d(channels, channels, 3, 1, 1))
        self.head = nn.Sequential(
            group_norm(channels), nn.SiLU(), nn.Conv2d(channels, in_channels, 3, 1, 1)
        )

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """x (B, C, H, W), t (B,) integer steps in [0, T) -> eps_pred (B, C, H, W)."""
        emb = self.time_mlp(timestep_embedding(t, self.base_channels))  # (B, 4 * base)
        h = self.stem(x)  # (B, base, 28, 28)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)  # (B, C, H, W) -> (B, C, H/2, W/2)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)  # concat on channels
            if i < len(self.upsample):
                size = skips[-1].shape[-2:]  # 7 -> 14 -> 28
                h = self.upsample[i](F.interpolate(h, size=size, mode="nearest"))
        return self.head(h)


# ------------------------------------------------------------------------------ the diffusion


class DDPM(nn.Module):
    """The forward process, the epsilon-prediction loss and ancestral sampling around a U-Net.

    Steps are indexed from 0 in code: index i is the paper's t = i + 1 (beta[0] = beta_1).
    Images enter ``step`` in [0, 1] and are scaled to [-1, 1] (Sec. 4); ``sample`` returns [0, 1].

    Args:
        image_shape: (C, H, W).
        net: eps_theta.
        num_steps: T.
        beta_start, beta_end: The linear schedule's ends.
        ema_decay: Decay of the moving average of the weights (0: none, sample the raw weights).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        net: UNet,
        num_steps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        ema_decay: float = 0.999,
    ) -> None:
        super().__init__()
        self.image_shape, self.num_steps, self.ema_decay = tuple(image_shape), num_steps, ema_decay
        self.net = net
        # The averaged copy: not trained (no gradients, not in the optimizer), saved with the
        # weights, so a resumed run continues the same average.
        self.ema = copy.deepcopy(net).requires_grad_(False)
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        betas = linear_betas(num_steps, beta_start, beta_end)  # (T,) float64
        alpha_bar = torch.cumprod(1.0 - betas, dim=0)  # (T,) alpha_bar_t = prod_{s<=t} alpha_s
        # Schedules are recomputed from the config, never loaded: persistent=False.
        for name, value in (("betas", betas), ("alpha_bar", alpha_bar)):
            self.register_buffer(name, value.float(), persistent=False)

    # -- the forward process

    def q_step(self, x_prev: Tensor, i: int, noise: Tensor) -> Tensor:
        """One step of the chain, x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps (eq. 2)."""
        beta = self.betas[i]
        return (1.0 - beta).sqrt() * x_prev + beta.sqrt() * noise

    def q_sample(self, x0: Tensor, i: Tensor, noise: Tensor) -> Tensor:
        """A draw of q(x_t | x_0) in closed form (eq. 4): x0, noise (B, C, H, W), i (B,)."""
        a = self.alpha_bar[i].view(-1, 1, 1, 1)  # (B,) -> (B, 1, 1, 1)
        return a.sqrt() * x0 + (1.0 - a).sqrt() * noise

    # -- the loss

    def denoiser(self) -> UNet:
        """The network that evaluation and sampling use: the moving average, if kept."""
        return self.ema if self.ema_decay > 0 else self.net

    def step(self, batch: Any) -> StepOutput:
        """L_simple (eq. 14): the mean squared error of the predicted noise, per pixel, for one
        uniform t and one eps per image (Algorithm 1). Training uses the raw weights,
        evaluation the moving average."""
        images, _ = batch  # (B, C, H, W) in [0, 1]
        x0 = images * 2.0 - 1.0  # [0, 1] -> [-1, 1]
        i = torch.randint(0, self.num_steps, (len(x0),), device=x0.device)  # (B,) t - 1
        noise = torch.randn_like(x0)
        net = self.net if self.training else self.denoiser()
        eps_pred = net(self.q_sample(x0, i, noise), i)  # (B, C, H, W)
        per_image = (eps_pred - noise).pow(2).flatten(1).mean(1)  # (B,)
        return StepOutput(per_image.mean(), {"loss": Mean(per_image.sum(), len(x0))})

    # -- the moving average

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- d * ema + (1 - d) * weights, with d = min(ema_decay, (1 + n) / (10 + n)) after
        n updates: the warm-up keeps the early average from remembering the random start."""
        if self.ema_decay <= 0:
            return
        n = float(self.ema_updates)
        decay = min(self.ema_decay, (1.0 + n) / (10.0 + n))
        for avg, p in zip(self.ema.parameters(), self.net.parameters()):
            avg.lerp_(p, 1.0 - decay)
        for avg, b in zip(self.ema.buffers(), self.net.buffers()):
            avg.copy_(b)
        self.ema_updates += 1

    def configure_optimizers(self, config: Any) -> torch.optim.Optimizer:
        """The config's optimizer on the U-Net's weights, which updates the moving average after
        every step (a PyTorch post-step hook: the engine's loop stays as it is)."""
        params = [{"params": list(self.net.parameters())}]
        optimizer = build_optimizer(config, self, params)
        optimizer.register_step_post_hook(lambda *_: self.update_ema())
        return optimizer

    # -- sampling

    def sampling_schedule(self, steps: int) -> tuple[Tensor, Tensor, Tensor]:
        """The indices visited and the betas and alpha_bars of the chain run on them.

        steps = T is the paper's chain. steps < T keeps alpha_bar at ``steps`` evenly spaced
        indices and sets beta_k = 1 - alpha_bar_k / alpha_bar_{k-1} between them (Nichol and
        Dhariwal 2021, Sec. 4): not the paper's sampler.
        """
        assert 1 <= steps <= self.num_steps, f"steps must be in [1, {self.num_steps}]"
        if steps == self.num_steps:
            return torch.arange(self.num_steps), self.betas, self.alpha_bar
        idx = torch.linspace(0, self.num_steps - 1, steps).round().long()  # (S,) increasing
        alpha_bar = self.alpha_bar[idx]
        prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
        return idx, 1.0 - alpha_bar / prev, alpha_bar

    @torch.no_grad()
    def sample(
        self,
        num: int,
        generator: torch.Generator,
        steps: int | None = None,
        keep: list[int] | None = None,
    ) -> Tensor:
        """Ancestral sampling (Algorithm 2): (num, C, H, W) in [0, 1].

        Args:
            num: Number of images.
            generator: Draws x_T and every z (on the CPU): the same state, the same images.
            steps: Network evaluations per sample (default T, the paper's sampler).
            keep: Paper steps t (T ... 0) at which to record x_t; then returns (len(keep), num,
                C, H, W) in [0, 1] instead, for the picture of the reverse process.
        """
        steps = steps or self.num_steps
        idx, betas, alpha_bar = self.sampling_schedule(steps)
        net, device = self.denoiser(), self.betas.device
        x = torch.randn(num, *self.image_shape, generator=generator).to(device)  # x_T
        kept = {}
        for k in reversed(range(steps)):
            t = int(idx[k]) + 1  # the paper's t
            if keep is not None and t in keep:
                kept[t] = x.clone()
            eps_pred = net(x, torch.full((num,), int(idx[k]), device=device))
            beta, a = betas[k], alpha_bar[k]
            x = (x - beta / (1.0 - a).sqrt() * eps_pred) / (1.0 - beta).sqrt()  # the mean
            if k > 0:  # sigma_t z with sigma_t^2 = beta_t; no noise at the last step
                z = torch.randn(num, *self.image_shape, generator=generator).to(device)
                x = x + beta.sqrt() * z
        kept[0] = x
        if keep is None:
            return to_unit_range(x)
        return torch.stack([to_unit_range(kept[t]) for t in keep])  # (len(keep), num, C, H, W)


def create_model(config: Any, splits: Any) -> DDPM:
    """The DDPM of the config for the data's image shape (the ModelSpec hook)."""
    shape = tuple(splits.input_shape)
    net = UNet(
        shape[0], config.base_channels, config.channel_mults, config.attention, config.dropout
    )
    return DDPM(shape, net, config.num_steps, config.beta_start, config.beta_end, config.ema_decay)


def create_criterion(config: Any) -> None:
    """None: the model's step computes its loss."""
    return None
