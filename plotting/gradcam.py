"""Where a CNN looks: Grad-CAM class activation maps, and the images with their maps overlaid.

Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", Sec. 3): for a class c and a convolutional layer with activations
A^k (K channels of h x w), each channel gets the weight

    alpha_k^c = 1 / (h w) * sum_ij d y^c / d A^k_ij          (Eq. 1: global-average-pooled gradient)

and the map is ReLU(sum_k alpha_k^c A^k) (Eq. 2): the regions whose activations push the class
score up. The ReLU drops the regions that argue for other classes. The map has the layer's
resolution; it is upsampled bilinearly to the input's size, as in the paper.

What to look for: docs/visualization/Playbooks.md, "Grad-CAM and feature projections".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from plotting.core import save_figure, to_class_indices, to_numpy
from plotting.features import FIGURE_MAX_SIDE, _rescale

if TYPE_CHECKING:  # annotations only: `import plotting` must work without torch (NumPy models)
    import torch
    from torch import nn

HEATMAP_ALPHA = 0.5  # opacity of the heat map over the image: both stay readable


def module_states(model: nn.Module) -> dict[nn.Module, bool]:
    """The ``training`` flag of every submodule, to put back after a temporary ``eval()``."""
    return {module: module.training for module in model.modules()}


def restore_states(states: dict[nn.Module, bool]) -> None:
    """Set every submodule's ``training`` flag back to what :func:`module_states` recorded."""
    for module, training in states.items():
        module.training = training


def check_layer(model: nn.Module, layer: nn.Module, name: str = "target_layer") -> None:
    """Raise ValueError unless ``layer`` is one of ``model``'s submodules (by identity)."""
    if not any(module is layer for module in model.modules()):
        raise ValueError(
            f"{name} ({type(layer).__name__}) is not a submodule of the model "
            f"({type(model).__name__}); pass a layer of this model, e.g. its last conv stage"
        )


def grad_cam(
    model: nn.Module,
    target_layer: nn.Module,
    x: torch.Tensor,
    target_classes: int | Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Grad-CAM maps of a classifier for a batch of images (Selvaraju et al. 2017, Eq. 1-2).

    The model runs in eval mode (dropout off, batch norm on its running statistics) with
    gradients enabled, also when called under ``torch.no_grad()``. The gradient is taken with
    ``torch.autograd.grad`` with respect to the layer's activations only, so no ``.grad`` of any
    parameter is created or changed; the forward hook that captures the activations is removed
    and every submodule's train/eval mode is restored, also when an error is raised.

    Args:
        model: A classifier returning class scores (B, C) for images (B, C_in, H, W).
        target_layer: A submodule whose output is a (B, K, h, w) activation, usually the last
            convolutional stage; it must run exactly once per forward pass.
        x: The images (B, C_in, H, W), as the model takes them (normalised the same way).
        target_classes: The class to explain for each image: one int for all, or (B,) indices.
            Defaults to the predicted classes (argmax of the scores).

    Returns:
        The maps (B, H, W) at the input's resolution, each divided by its maximum so it lies in
        [0, 1]; a map of zeros means no positive evidence for the class at this layer.
        Detached, on ``x``'s device.

    Raises:
        ValueError: If the layer is not in the model or does not run exactly once, ``x`` is not
            (B, C_in, H, W) with B >= 1, the layer's output is not (B, K, h, w), the scores are
            not (B, C), or a target class is not in [0, C).
    """
    import torch
    import torch.nn.functional as F

    if not isinstance(model, torch.nn.Module) or not isinstance(target_layer, torch.nn.Module):
        raise ValueError("model and target_layer must be torch.nn.Module instances")
    check_layer(model, target_layer)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or 0 in x.shape:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"x must be a tensor of images (B, C, H, W) with B >= 1, got {shape}")
    batch, _, height, width = x.shape

    captured: list[torch.Tensor] = []

    def capture(module: nn.Module, inputs: Any, output: Any) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 4 or len(output) != batch:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
            raise ValueError(
                f"target_layer must output activations (B, K, h, w) with B = {batch}, got {shape}"
            )
        # A leaf that requires grad: the gradient reaches it even if every parameter before it is
        # frozen, and the graph above the layer is not built. The model continues on a clone, so
        # an in-place op after the layer (ReLU(inplace=True)) cannot overwrite the activations.
        activation = output.detach().requires_grad_(True)
        captured.append(activation)
        return activation.clone()

    states = module_states(model)
    handle = target_layer.register_forward_hook(capture)
    try:
        model.eval()
        with torch.enable_grad():
            scores = model(x)
            if not isinstance(scores, torch.Tensor) or scores.ndim != 2 or len(scores) != batch:
                shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores)
                raise ValueError(
                    f"the model must return scores (B, C) with B = {batch}, got {shape}"
                )
            if len(captured) != 1:
                raise ValueError(
                    f"target_layer ran {len(captured)} times in one forward pass; Grad-CAM needs "
                    "a layer that runs exactly once"
                )
            num_classes = scores.shape[1]
            if target_classes is None:
                targets = scores.detach().argmax(dim=1)  # (B,)
            else:
                targets = torch.as_tensor(target_classes, device=scores.device).long()
                targets = targets.expand(batch) if targets.ndim == 0 else targets
                if targets.shape != (batch,):
                    raise ValueError(
                        f"target_classes must be one int or (B,) = ({batch},) class indices, "
                        f"got shape {tuple(targets.shape)}"
                    )
                if targets.min() < 0 or targets.max() >= num_classes:
                    raise ValueError(
                        f"target_classes must lie in [0, {num_classes}), got "
                        f"{targets.min().item()}..{targets.max().item()}"
                    )
            activation = captured[0]  # (B, K, h, w)
            # Samples do not interact in eval mode, so the gradient of the summed selected scores
            # holds each sample's own d y^c / d A in its row.
            selected = scores.gather(1, targets[:, None]).sum()  # (B, C) -> (B, 1) -> scalar
            (gradient,) = torch.autograd.grad(selected, activation)  # (B, K, h, w)
    finally:
        handle.remove()
        restore_states(states)

    with torch.no_grad():
        alpha = gradient.mean(dim=(2, 3), keepdim=True)  # (B, K, h, w) -> (B, K, 1, 1), Eq. 1
        cam = torch.relu((alpha * activation).sum(dim=1))  # (B, K, h, w) -> (B, h, w), Eq. 2
        cam = F.interpolate(  # (B, 1, h, w) -> (B, 1, H, W) -> (B, H, W)
            cam[:, None], size=(height, width), mode="bilinear", align_corners=False
        )[:, 0]
        peak = cam.amax(dim=(1, 2), keepdim=True)  # (B, 1, 1)
        cam = torch.where(peak > 0, cam / peak.clamp_min(1e-12), torch.zeros_like(cam))
    return cam.to(x.device)


def plot_grad_cam(
    images: Any,
    cams: Any,
    classes: Any,
    path: str | Path,
    class_names: Sequence[str] | None = None,
    *,
    max_images: int = 8,
    title: str = "",
) -> Path:
    """Draw each image beside its Grad-CAM map laid over it, one row per image.

    Left: the image, scaled to its own min..max (inputs are often normalised). Right: the same
    image in grey with the map on top (``jet``, 0 = no evidence, 1 = the strongest), titled
    with the class the map explains. What to look for: docs/visualization/Playbooks.md.

    Args:
        images: (N, C, H, W) with C = 1 (grayscale) or 3 (RGB), e.g. the batch given to
            :func:`grad_cam`.
        cams: (N, H, W) maps in [0, 1], from :func:`grad_cam`.
        classes: (N,) the class each map explains (the ``target_classes`` of :func:`grad_cam`,
            or the predictions).
        path: Where to write the PNG.
        class_names: Names of the classes, indexed by class; defaults to the indices.
        max_images: Draw at most this many rows (the first images).
        title: Figure title; defaults to "Grad-CAM".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If ``images`` is not (N, 1 or 3, H, W) with N >= 1, ``cams`` is not (N, H, W)
            with values in [0, 1], either holds NaN/Inf, ``classes`` is not (N,) class indices,
            ``class_names`` has no name for a class, or ``max_images`` < 1.
    """
    images = to_numpy(images, "images").astype(np.float64)
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W) with N >= 1, got {images.shape}")
    cams = to_numpy(cams, "cams").astype(np.float64)
    expected = (images.shape[0], *images.shape[2:])
    if cams.shape != expected:
        raise ValueError(f"cams must be (N, H, W) = {expected} to match images, got {cams.shape}")
    if not (np.all(np.isfinite(images)) and np.all(np.isfinite(cams))):
        raise ValueError("images or cams contain NaN or Inf")
    if cams.min() < 0.0 or cams.max() > 1.0:
        raise ValueError(
            f"cams must lie in [0, 1] (as grad_cam returns them), got {cams.min()}..{cams.max()}"
        )
    classes = to_class_indices(classes, "classes")
    if len(classes) != len(images):
        raise ValueError(
            f"classes must have one entry per image ({len(images)}), got {len(classes)}"
        )
    if class_names is not None and len(class_names) <= classes.max():
        raise ValueError(
            f"class_names has {len(class_names)} names but class {classes.max()} is plotted"
        )
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")

    count = min(len(images), max_images)
    cell = min(2.4, FIGURE_MAX_SIDE / count)  # inches per image; many rows shrink, not grow
    fig, axes = plt.subplots(
        count, 2, figsize=(2 * cell + 1.2, cell * count + 0.8), squeeze=False, layout="constrained"
    )
    for row in range(count):
        image = _rescale(images[row])  # (C, H, W), 0..1 for display
        gray = image.mean(axis=0)  # (C, H, W) -> (H, W)
        name = class_names[classes[row]] if class_names is not None else str(classes[row])
        left, right = axes[row]
        if image.shape[0] == 1:
            left.imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            left.imshow(image.transpose(1, 2, 0))  # (3, H, W) -> (H, W, 3)
        left.set_title(f"image {row}", fontsize="small")
        right.imshow(gray, cmap="gray", vmin=0.0, vmax=1.0)
        right.imshow(cams[row], cmap="jet", vmin=0.0, vmax=1.0, alpha=HEATMAP_ALPHA)
        right.set_title(f"Grad-CAM: {name}", fontsize="small")
        for ax in (left, right):
            ax.set_axis_off()
    opaque = ScalarMappable(norm=Normalize(0.0, 1.0), cmap="jet")  # the bar without the alpha
    fig.colorbar(opaque, ax=axes[:, 1].tolist(), shrink=0.8, label="evidence for the class (0..1)")
    shown = f"{count} of {len(images)} images" if len(images) > count else f"{count} images"
    fig.suptitle(f"{title or 'Grad-CAM'}\n{shown}", fontsize="medium")
    return save_figure(fig, path)
