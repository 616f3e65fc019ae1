"""U-Net (Ronneberger, Fischer and Brox 2015), and a global intensity threshold as its baseline.

Paper: O. Ronneberger, P. Fischer and T. Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", MICCAI 2015 (arXiv:1505.04597). Data: the ISBI 2012 EM segmentation
challenge (Arganda-Carreras et al. 2015), 30 labelled 512x512 slices of one stack.

What is implemented, in the paper's order:

- the helpers: the paper's elastic deformation of a slice and its mask (Sec. 3.1: random
  displacements on a coarse 3 x 3 lattice, interpolated bicubically), and random crops, each
  turned by one of the 8 flips and rotations of the square (the paper's shifts and rotations);
- the contracting path (Sec. 2): levels of two 3x3 convolutions with ReLU, then 2x2 max pooling
  that halves the resolution; the filters double from level to level;
- the expanding path: a 2x2 up-convolution that doubles the resolution and halves the filters,
  concatenation with the contracting path's feature map of the same level (the skip
  connection), two 3x3 convolutions; a final 1x1 convolution gives one score per class;
- the loss (Sec. 3): the pixel-wise softmax with cross-entropy, optionally weighted by the map
  of eq. 2, w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2)): w_c balances the class
  frequencies and the second term makes the thin membranes between two touching cells count;
  d1 and d2 are the distances to the nearest and second-nearest cell;
- the metrics of the challenge, by hand: pixel error, the IoU of the membrane class, and the
  adapted Rand error of the cells (connected components of the cell pixels), computed as
  scikit-image's ``adapted_rand_error`` does (tests hold it to that oracle);
- the baseline: one global intensity threshold (membranes are dark), the one with the lowest
  pixel error on the training slices, scored on the same validation slices as the U-Net.

Choices that differ from the paper, and why:

- padding, not the overlap-tile strategy: every 3x3 convolution is zero-padded, so the output
  has the input's size and a whole 512x512 slice is predicted in one pass. The paper's valid
  convolutions lose 92 pixels on each side and need mirrored borders and tiles; with padding
  the pixels near a slice's edge see zeros instead of a mirror (a small loss at the edges);
- four levels of 16 to 128 filters (the paper: five, 64 to 1024), batch norm after every
  convolution, Adam: what trains on a CPU in ten minutes;
- no dropout at the end of the contracting path; the elastic deformations deform whole slices
  before cropping (the paper deforms its 572x572 tiles).

Known outcomes, asserted in tests: the output has the input's size and two classes; the metrics
match their oracles (scikit-image's adapted Rand error, torch's cross-entropy, brute-force
searches and distance transforms); the crops keep image and mask aligned; the loss falls on a
fixed batch.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

from engine.steps import Mean, StepOutput

MEMBRANE, CELL = 0, 1  # mask values of data_utils.load_isbi_membrane

# ----------------------------------------------------------------------------------- helpers


def dihedral(x: Tensor, k: int) -> Tensor:
    """One of the 8 symmetries of the square on the last two axes: k in 0..7, k % 4 quarter
    turns, then a left-right flip when k >= 4. (..., S, S) -> (..., S, S)."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def undo_dihedral(x: Tensor, k: int) -> Tensor:
    """The inverse of ``dihedral(., k)``: undo the flip, then turn back.
    (..., S, S) -> (..., S, S)."""
    x = x.flip(-1) if k >= 4 else x
    return torch.rot90(x, -(k % 4), dims=(-2, -1))


def random_crops(
    images: Tensor, masks: Tensor, size: int, per_image: int, weights: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``per_image`` random size x size crops of each slice, with its mask (and weight map),
    each crop turned by a random symmetry of the square (Sec. 3.1: shifts and rotations).

    Draws from torch's global generator, which the checkpoints save (resume stays exact).
    images (B, C, H, W), masks (B, H, W), weights (B, H, W) -> (B * per_image, C, size, size),
    (B * per_image, size, size) and the weights cut the same way.
    """
    b, _, h, w = images.shape
    assert h >= size and w >= size, f"crop {size} is larger than the slices ({h}x{w})"
    tops = torch.randint(0, h - size + 1, (b, per_image)).tolist()
    lefts = torch.randint(0, w - size + 1, (b, per_image)).tolist()
    turns = torch.randint(0, 8, (b, per_image)).tolist()
    xs, ys, ws = [], [], []
    for i in range(b):
        for top, left, k in zip(tops[i], lefts[i], turns[i]):
            window = (slice(top, top + size), slice(left, left + size))
            xs.append(dihedral(images[i, :, window[0], window[1]], k))  # (C, size, size)
            ys.append(dihedral(masks[i, window[0], window[1]], k))  # (size, size)
            if weights is not None:
                ws.append(dihedral(weights[i, window[0], window[1]], k))
    return torch.stack(xs), torch.stack(ys), (torch.stack(ws) if weights is not None else None)


def elastic_deform(
    images: Tensor, masks: Tensor, std: float, grid: int = 3, weights: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The paper's elastic deformation (Sec. 3.1) of whole slices: random displacement vectors
    on a coarse grid x grid lattice (the paper: 3 x 3, std 10 pixels), interpolated bicubically
    to one displacement per pixel; every slice gets its own field. Pixels that the field takes
    outside the slice are mirrored back. The image (and weight map) is sampled bilinearly, the
    mask bilinearly and thresholded at 1/2, so its classes stay 0 and 1.

    Draws from torch's global generator, like ``random_crops``.
    images (B, C, H, W), masks (B, H, W), weights (B, H, W) -> the same shapes, deformed alike.
    """
    b, _, h, w = images.shape
    assert grid >= 2 and std >= 0, f"need grid >= 2 and std >= 0 (got {grid}, {std})"
    # displacements in pixels, then in grid_sample's units (the slice spans [-1, 1]: 2 / (S - 1))
    coarse = torch.randn(b, 2, grid, grid) * std  # (B, 2, grid, grid): x and y shifts
    scale = torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)]).view(1, 2, 1, 1)
    field = F.interpolate(coarse * scale, size=(h, w), mode="bicubic", align_corners=True)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    identity = torch.stack([xs, ys], dim=-1)  # (H, W, 2), grid_sample's (x, y) order
    where = identity + field.permute(0, 2, 3, 1)  # (B, 2, H, W) -> (B, H, W, 2)
    where = where.to(images.device)

    def sample(x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return F.grid_sample(
            x, where, mode="bilinear", padding_mode="reflection", align_corners=True
        )

    deformed_masks = (sample(masks.unsqueeze(1).float()).squeeze(1) >= 0.5).long()
    deformed_weights = sample(weights.unsqueeze(1)).squeeze(1) if weights is not None else None
    return sample(images), deformed_masks, deformed_weights


def cells(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The cells of a mask (H, W): connected components (4-connected) of its cell pixels, labelled
    1..n; membrane pixels get 0. Returns the label image (H, W) int64 and n."""
    labels, n = ndimage.label(mask == CELL)
    return labels.astype(np.int64), int(n)


# ---------------------------------------------------------------------- the weight map (eq. 2)


def class_balance(mask: np.ndarray) -> np.ndarray:
    """w_c(x): each pixel weighted by 1 / (2 x the frequency of its class) in the mask (H, W),
    so that both classes carry half of the total weight (the mean weight is 1)."""
    weights = np.ones(mask.shape, dtype=np.float64)
    for c in (MEMBRANE, CELL):
        frequency = (mask == c).mean()
        if frequency > 0:
            weights[mask == c] = 1.0 / (2.0 * frequency)
    return weights


def weight_map(mask: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """The paper's weight map (eq. 2) of one mask (H, W): w_c(x) + w0 exp(-(d1 + d2)^2 / 2 sigma^2)
    on membrane pixels, w_c(x) on cell pixels.

    d1 and d2 are a membrane pixel's Euclidean distances to the nearest and the second-nearest
    cell. Each cell's distance transform is taken in a window around it reaching 3 sigma (with w0
    = 10, sigma = 5: where the term is still above 10 exp(-18) ~ 2e-7); farther pixels keep an
    infinite distance to it, so the result equals full-image transforms wherever the term is
    not negligible (a test compares both). Returns float64 (H, W).
    """
    labels, n = cells(mask)
    h, w = mask.shape
    reach = int(np.ceil(6 * sigma))  # d1 + d2 <= 6 sigma keeps exp(-(d1 + d2)^2 / 2 sigma^2)
    d1 = np.full(mask.shape, np.inf)  # distance to the nearest cell
    d2 = np.full(mask.shape, np.inf)  # to the second nearest
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        rows = slice(max(box[0].start - reach, 0), min(box[0].stop + reach, h))
        cols = slice(max(box[1].start - reach, 0), min(box[1].stop + reach, w))
        distance = ndimage.distance_transform_edt(labels[rows, cols] != index)  # 0 in the cell
        near, second = d1[rows, cols], d2[rows, cols]  # views: updated in place
        second[:] = np.minimum(second, np.maximum(near, distance))
        near[:] = np.minimum(near, distance)
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2)) if n >= 2 else 0.0
    return class_balance(mask) + np.where(mask == MEMBRANE, border, 0.0)


def weighted_cross_entropy(scores: Tensor, masks: Tensor, weights: Tensor | None) -> Tensor:
    """Eq. 1: the softmax over classes at every pixel and cross-entropy with the mask, each pixel
    weighted by w(x) (None: all 1), a mean over the pixels. scores (B, K, H, W), masks (B, H, W),
    weights (B, H, W) -> ()."""
    log_p = F.log_softmax(scores, dim=1)  # (B, K, H, W)
    nll = -log_p.gather(1, masks.unsqueeze(1)).squeeze(1)  # (B, 1, H, W) -> (B, H, W)
    return (nll if weights is None else nll * weights).mean()


# ------------------------------------------------------------------------ the challenge metrics


def pixel_error(pred: Tensor, masks: Tensor) -> Tensor:
    """The share of pixels whose class is wrong: (B, H, W) predictions and masks -> ()."""
    return (pred != masks).double().mean()


def intersection_union(pred: Tensor, masks: Tensor, c: int = MEMBRANE) -> tuple[int, int]:
    """Pixels of class c in both the prediction and the mask, and in either: the two counts of
    the IoU |P & T| / |P | T|, summed over the batch (B, H, W)."""
    p, t = pred == c, masks == c
    return int((p & t).sum()), int((p | t).sum())


def adapted_rand_error(true_labels: np.ndarray, test_labels: np.ndarray) -> float:
    """The adapted Rand error of a segmentation (SNEMI3D and ISBI 2012; Arganda-Carreras et al.
    2015): 1 - F, where F is the harmonic mean of the Rand precision and recall of pixel pairs.

    Both arguments are label images of the same shape (int). Pixels labelled 0 in the truth
    (membrane) are left out; label 0 in the test image is an ordinary segment. With n_ij the
    pixels of true segment i and test segment j, a_i and b_j the row and column sums and N the
    count of pixels, pairs of pixels are counted as sum n^2 - N:
    F = (sum n_ij^2 - N) / (1/2 (sum a_i^2 - N) + 1/2 (sum b_j^2 - N)).
    """
    keep = true_labels.ravel() != 0
    t = true_labels.ravel()[keep]
    s = test_labels.ravel()[keep]
    n = len(t)
    _, t = np.unique(t, return_inverse=True)  # labels -> 0..I-1
    _, s = np.unique(s, return_inverse=True)  # 0..J-1
    joint = np.bincount(t * (s.max() + 1) + s).astype(np.float64)  # n_ij, flattened
    rows = np.bincount(t).astype(np.float64)  # a_i
    cols = np.bincount(s).astype(np.float64)  # b_j
    pairs_both = joint @ joint - n
    pairs_true, pairs_test = rows @ rows - n, cols @ cols - n
    return float(1.0 - pairs_both / (0.5 * pairs_true + 0.5 * pairs_test))


def rand_errors(pred: Tensor, masks: Tensor) -> list[float]:
    """The adapted Rand error of each slice's cells: predicted cells (connected components of the
    predicted cell pixels) against the true ones. (B, H, W) -> B numbers."""
    errors = []
    for p, t in zip(pred.cpu().numpy(), masks.cpu().numpy()):
        errors.append(adapted_rand_error(cells(t)[0], cells(p)[0]))
    return errors


class SegmentationScores:
    """The whole-set metrics of one predictor (engine.steps.SetMetric): the membrane IoU of all
    pixels together, and the mean over slices of the adapted Rand error.

    ``source`` is the key of the step's outputs that holds the predicted classes (B, H, W); the
    names are prefixed with ``prefix`` (the threshold baseline reports ``threshold_*``).
    """

    def __init__(self, source: str, prefix: str = "") -> None:
        self.source, self.prefix = source, prefix
        self.intersection, self.union, self.errors = 0, 0, []

    def update(self, batch: Any, outputs: dict[str, Tensor]) -> None:
        _, masks = batch  # (B, H, W)
        pred = outputs[self.source]  # (B, H, W)
        inter, union = intersection_union(pred, masks)
        self.intersection += inter
        self.union += union
        self.errors += rand_errors(pred, masks)

    def state(self) -> list[Any]:
        return [self.intersection, self.union, self.errors]

    def compute(self, states: list[Any]) -> dict[str, float]:
        inter = sum(s[0] for s in states)
        union = sum(s[1] for s in states)
        errors = [e for s in states for e in s[2]]
        return {
            f"{self.prefix}membrane_iou": inter / union if union else float("nan"),
            f"{self.prefix}rand_error": float(np.mean(errors)) if errors else float("nan"),
        }


# ------------------------------------------------------------------------------- the baseline


def best_threshold(images: Tensor, masks: Tensor) -> tuple[int, float]:
    """The global threshold t (a grey level 0..255) whose rule "membrane where pixel <= t" has
    the lowest pixel error on uint8 images (N, 1, H, W) with masks (N, H, W), and that error.

    One histogram per class: the errors of all 256 thresholds are cumulative sums.
    """
    levels = images[:, 0].reshape(-1).long()  # (N * H * W,) grey levels
    is_membrane = masks.reshape(-1) == MEMBRANE
    membrane = torch.bincount(levels[is_membrane], minlength=256).double()  # (256,)
    cell = torch.bincount(levels[~is_membrane], minlength=256).double()
    # at t: cells at or below t are called membrane, membranes above t are called cell
    errors = (cell.cumsum(0) + membrane.sum() - membrane.cumsum(0)) / len(levels)  # (256,)
    t = int(errors.argmin())
    return t, float(errors[t])


def threshold_predict(images: Tensor, threshold: Tensor) -> Tensor:
    """The baseline's classes: membrane where the intensity (in [0, 1], grey level / 255) is at
    most the threshold (a grey level), else cell. (B, 1, H, W) -> (B, H, W) int64."""
    levels = (images[:, 0] * 255).round()  # (B, 1, H, W) -> (B, H, W) grey levels
    return torch.where(levels <= threshold, MEMBRANE, CELL).long()


# ----------------------------------------------------------------------------------- the U-Net


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by (batch norm and) ReLU: one level of either path.
    Padding 1 keeps the size (the paper's are unpadded: 572 -> 570 -> 568)."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNet(nn.Module):
    """The contracting path, the expanding path with skip connections, and a 1x1 classifier.

    Args:
        in_channels: Channels of the input slices (1: grey).
        num_classes: Pixel classes (2: membrane, cell).
        widths: Filters of each level, top first (the paper: 64, 128, 256, 512, 1024).
        batch_norm: Batch norm after each 3x3 convolution.
        loss: "plain" or "weighted" (the weight map of eq. 2).
        crop_size: Side of the training crops.
        crops_per_image: Crops cut from each training slice per step.
        w0, sigma: The weight map's constants (eq. 2).
        test_time_flips: In evaluation, average the class probabilities of the 8 flips and
            rotations of each slice (each mapped back), instead of one pass.
        threshold: The baseline's grey level (best_threshold on the training slices).
        elastic_std: Std in pixels of the elastic deformation's coarse displacements applied to
            each training slice before cropping (0: none; the paper: 10).
        elastic_grid: Side of the lattice of those displacements (the paper: 3).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: list[int],
        batch_norm: bool = True,
        loss: str = "plain",
        crop_size: int = 128,
        crops_per_image: int = 8,
        w0: float = 10.0,
        sigma: float = 5.0,
        test_time_flips: bool = False,
        threshold: int = 0,
        elastic_std: float = 0.0,
        elastic_grid: int = 3,
    ) -> None:
        super().__init__()
        self.elastic_std, self.elastic_grid = elastic_std, elastic_grid
        self.loss, self.crop_size, self.crops_per_image = loss, crop_size, crops_per_image
        self.test_time_flips = test_time_flips
        self.w0, self.sigma = w0, sigma
        self.down = nn.ModuleList()
        c = in_channels
        for width in widths:
            self.down.append(DoubleConv(c, width, batch_norm))
            c = width
        self.up = nn.ModuleList()  # 2x2 up-convolutions, bottom first
        self.merge = nn.ModuleList()  # their levels' two 3x3 convolutions
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(c, width, 2, stride=2))
            self.merge.append(DoubleConv(2 * width, width, batch_norm))
            c = width
        self.classify = nn.Conv2d(c, num_classes, 1)
        # Saved with the weights: evaluate.py scores the baseline chosen at training time.
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self._weights: dict[str, Tensor] = {}  # weight maps of the training masks, by content

    def forward(self, x: Tensor) -> Tensor:
        """Class scores of every pixel: (B, C, H, W) -> (B, K, H, W), H and W divisible by
        2^(levels - 1)."""
        skips = []
        for i, level in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2)  # (B, c, H, W) -> (B, c, H/2, W/2)
            x = level(x)
            skips.append(x)
        skips.pop()  # the bottom level's output is x itself
        for up, merge in zip(self.up, self.merge):
            x = up(x)  # (B, 2c, H, W) -> (B, c, 2H, 2W)
            x = merge(torch.cat([skips.pop(), x], dim=1))  # (B, 2c, 2H, 2W) -> (B, c, 2H, 2W)
        return self.classify(x)  # (B, c, H, W) -> (B, K, H, W)

    def log_probabilities(self, images: Tensor) -> Tensor:
        """Log class probabilities of every pixel, (B, C, S, S) -> (B, K, S, S): one pass, or
        with ``test_time_flips`` the mean of the probabilities of the 8 symmetries of each slice
        (each turned back), a cheap stand-in for the paper's averaged overlapping tiles."""
        if not self.test_time_flips:
            return F.log_softmax(self(images), dim=1)
        probs = sum(undo_dihedral(F.softmax(self(dihedral(images, k)), dim=1), k) for k in range(8))
        return torch.log(probs / 8)

    def weight_maps(self, masks: Tensor) -> Tensor:
        """The weight map (eq. 2) of each training mask (B, H, W) -> (B, H, W); each distinct
        mask is computed once (a few seconds for a 512x512 slice) and kept."""
        maps = []
        for mask in masks.cpu().numpy():
            key = hashlib.blake2b(mask.tobytes(), digest_size=16).hexdigest()
            if key not in self._weights:
                array = weight_map(mask, self.w0, self.sigma)
                self._weights[key] = torch.from_numpy(array).float()
            maps.append(self._weights[key])
        return torch.stack(maps).to(masks.device)

    def step(self, batch: Any) -> StepOutput:
        """Training: random crops of the slices, the (weighted) cross-entropy. Evaluation: whole
        slices, the loss, the pixel error and, for the set metrics, the predicted classes of the
        U-Net and of the threshold baseline."""
        images, masks = batch  # (B, 1, H, W) in [0, 1], (B, H, W) in {0, 1}
        if self.training:
            weights = self.weight_maps(masks) if self.loss == "weighted" else None
            if self.elastic_std > 0:
                images, masks, weights = elastic_deform(
                    images, masks, self.elastic_std, self.elastic_grid, weights
                )
            x, y, w = random_crops(images, masks, self.crop_size, self.crops_per_image, weights)
            loss = weighted_cross_entropy(self(x), y, w)
            n = len(x)
            return StepOutput(loss, {"loss": Mean(float(loss.detach()) * n, n)})
        scores = self.log_probabilities(images)  # (B, 2, H, W)
        loss = weighted_cross_entropy(scores, masks, None)  # unweighted: comparable across runs
        pred = scores.argmax(1)  # (B, 2, H, W) -> (B, H, W)
        base = threshold_predict(images, self.threshold)
        n = len(images)
        metrics = {
            "loss": Mean(float(loss.detach()) * n, n),
            "pixel_error": Mean(float(pixel_error(pred, masks)) * n, n),
            "threshold_pixel_error": Mean(float(pixel_error(base, masks)) * n, n),
        }
        return StepOutput(loss, metrics, outputs={"unet": pred, "threshold": base})

    def set_metrics(self) -> dict[str, SegmentationScores]:
        """Membrane IoU and adapted Rand error of the U-Net and of the threshold baseline."""
        return {
            "unet": SegmentationScores("unet"),
            "threshold": SegmentationScores("threshold", prefix="threshold_"),
        }

    @torch.no_grad()
    def predict_proba(self, images: Tensor) -> Tensor:
        """The probability of membrane at every pixel: (B, 1, H, W) -> (B, H, W)."""
        return self.log_probabilities(images).exp()[:, MEMBRANE]


def create_model(config: Any, splits: Any) -> UNet:
    """The U-Net for the data's slices, with the baseline's threshold chosen on the training
    slices (the ModelSpec hook)."""
    threshold, _ = best_threshold(splits.x_train, splits.y_train)
    return UNet(
        splits.input_shape[0],
        splits.num_classes,
        list(config.widths),
        config.batch_norm,
        config.loss,
        config.crop_size,
        config.crops_per_image,
        config.w0,
        config.sigma,
        config.test_time_flips,
        threshold,
        config.elastic_std,
        config.elastic_grid,
    )


def create_criterion(config: Any) -> None:
    """None: the model's step computes its loss."""
    return None
