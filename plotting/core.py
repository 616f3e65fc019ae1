"""What every plot shares: saving a figure, and turning inputs into NumPy arrays."""

import io
import logging
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from utils.exceptions import AIFromScratchError

logger = logging.getLogger(__name__)

DPI = 120  # 120 dpi keeps a 10 x 4 inch figure near 1200 x 480 px: sharp, and small in git
MIN_WIDTH = 300  # narrower than this a plot is unreadable: better fail than shrink it further


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a figure to a PNG file and close it.

    Every ``plot_*`` function ends with this call, so all figures share one resolution and
    tight bounding box, and no figure stays open in pyplot's registry (long training runs
    that plot every epoch would otherwise grow in memory).

    Args:
        fig: The figure to save. It is closed even if writing fails.
        path: Where to write the PNG; must end in ``.png``. Missing parent directories are
            created.

    Returns:
        The path the PNG was written to.

    Raises:
        ValueError: If ``path`` does not end in ``.png``.
        AIFromScratchError: If the file cannot be written (read-only directory, full disk).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        plt.close(fig)
        raise ValueError(f"figure path must end in .png, got {str(path)!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    except OSError as error:
        raise AIFromScratchError(f"could not write figure to {path}: {error}") from error
    finally:
        plt.close(fig)
    logger.info("saved figure %s", path)
    return path


def to_numpy(values: Any, name: str) -> np.ndarray:
    """Convert array-like input (list, NumPy array, CPU or GPU torch tensor) to a NumPy array.

    Torch tensors are detached and moved to the CPU first, so callers can pass model outputs
    directly; the plotting package itself never imports torch (NumPy models do not need it).

    Args:
        values: The array-like input.
        name: The argument's name, used in error messages.

    Returns:
        The values as a NumPy array.

    Raises:
        ValueError: If ``values`` is None.
    """
    if values is None:
        raise ValueError(f"{name} must be array-like, got None")
    if hasattr(values, "detach"):  # a torch tensor; duck-typed so torch stays optional
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def to_class_indices(values: Any, name: str) -> np.ndarray:
    """Convert array-like class labels to a 1-D int64 array, rejecting non-integer values.

    Booleans become 0/1, so a classifier written as ``x[:, 0] > 0`` is accepted as is.

    Args:
        values: Array-like labels of shape (N,).
        name: The argument's name, used in error messages.

    Returns:
        The labels as an int64 array of shape (N,).

    Raises:
        ValueError: If the input is not 1-D, or holds negative, non-finite or fractional values.
    """
    array = to_numpy(values, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices of shape (N,), got {array.shape}")
    if array.dtype == bool:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
        raise ValueError(
            f"{name} must hold integer class indices; got fractional or non-finite values "
            "(probabilities or scores? take the argmax first)"
        )
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must hold class indices >= 0, got {array.min()}")
    return array.astype(np.int64)


def small_png(source: str | Path, max_width: int, max_bytes: int) -> bytes:
    """A saved figure as PNG bytes at most ``max_width`` pixels wide and ``max_bytes`` long.

    For the copies that live in git (README figures, executed notebooks): the image is
    downscaled (area average: text stays smooth without the ringing that sharper filters add
    around the hard edges of weight and filter images) and reduced to 256 adaptive colours
    (plots are mostly flat colours: they look the same and weigh a third); while it is still
    too large it is narrowed by 15% steps.

    Raises:
        AIFromScratchError: The file is not a readable image, or it does not fit ``max_bytes``
            at ``MIN_WIDTH`` pixels or more.
    """
    from PIL import Image

    try:
        with Image.open(source) as img:
            img = img.convert("RGB")
    except OSError as error:
        raise AIFromScratchError(f"cannot read {source}: {error}") from error
    width = min(max_width, img.width)
    while True:
        height = round(img.height * width / img.width)
        small = img.resize((width, height), Image.Resampling.BOX) if width < img.width else img
        small = small.quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= max_bytes:
            return buffer.getvalue()
        logger.info("%s is %d KB at %d px, trying narrower", source, buffer.tell() // 1000, width)
        width = int(width * 0.85)
        if width < MIN_WIDTH:
            raise AIFromScratchError(
                f"{source} does not fit {max_bytes} bytes at {MIN_WIDTH} px or more"
            )
