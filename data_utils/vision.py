"""Image data sets: MNIST, Fashion-MNIST, MNIST-1D, CIFAR-10 and the ISBI 2012 membrane images.

Images stay uint8 (N, C, H, W) in memory (MNIST: 47 MB instead of 188 MB as float32) and are
turned into float32 in [0, 1] per batch by ``transforms.to_float``. Files come from
data_utils.sources.fetch (data dir, cache, system folders, download) and are checksum-verified
before they are parsed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import pickle
import random
import struct
import tarfile
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from data_utils.base import RawDataset, Transform, class_facts
from data_utils.checksums import SOURCES
from data_utils.loaders import ArrayLoader
from data_utils.sources import (
    available_locally,
    cached_arrays,
    fetch,
    file_digests,
    load_pickle,
    search_folders,
)
from data_utils.transforms import to_float
from utils.exceptions import ConfigError, DataError

logger = logging.getLogger(__name__)

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (LeCun's MNIST format), gzip-compressed or not.

    Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
    big-endian uint32, then the data in C order, big-endian.

    Raises:
        DataError: Not an IDX file, or fewer/more data bytes than the header announces.
    """
    try:
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read IDX file {path}: {err}") from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (starts with {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: IDX header is truncated")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: header announces shape {dims} ({expected} bytes) but the file holds "
            f"{len(data) - header} data bytes (truncated or corrupt)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def _idx_pair(images: Path, labels: Path) -> tuple[Tensor, Tensor]:
    x = read_idx(images)  # (N, 28, 28) uint8
    y = read_idx(labels)  # (N,) uint8
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"{images.name} has shape {x.shape} but {labels.name} has {y.shape}: "
            "expected (N, H, W) images and N labels"
        )
    # (N, H, W) -> (N, 1, H, W): one grey channel
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def _load_idx_set(key: str, data_dir: str | Path | None, class_names: list[str]) -> RawDataset:
    paths = fetch(key, data_dir)
    x, y = _idx_pair(paths["train-images-idx3-ubyte.gz"], paths["train-labels-idx1-ubyte.gz"])
    x_test, y_test = _idx_pair(
        paths["t10k-images-idx3-ubyte.gz"], paths["t10k-labels-idx1-ubyte.gz"]
    )
    return RawDataset(
        x=x,
        y=y,
        num_classes=len(class_names),
        class_names=class_names,
        x_test=x_test,
        y_test=y_test,
        transform=to_float,
    )


def load_mnist(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """MNIST (LeCun et al. 1998): 60,000 + 10,000 handwritten digits, uint8 (N, 1, 28, 28).

    The canonical 10,000-image test set is kept; ``seed`` is unused (the data are fixed).
    """
    return _load_idx_set("mnist", data_dir, MNIST_CLASSES)


def load_fashion_mnist(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 clothing images, uint8 (N, 1, 28, 28).

    Also found in /usr/share/datasets/fashion-mnist/ when Debian's dataset-fashion-mnist is
    installed (its recompressed .gz files are accepted by their decompressed checksum).
    """
    return _load_idx_set("fashion_mnist", data_dir, FASHION_MNIST_CLASSES)


# ---------------------------------------------------------------- MNIST-1D


def load_mnist1d(
    *, seed: int = 42, data_dir: str | Path | None = None, shuffle_seq: bool = False
) -> RawDataset:
    """MNIST-1D (Greydanus 2020): 1-D signals of length 40, 10 classes, the paper's 4000/1000 split.

    Generated locally with ``mnist1d.data.make_dataset`` and the paper's default arguments
    (``get_dataset_args()``: 5000 samples, generation seed 42), never downloaded; ``seed`` only
    drives the train/val split in load_dataset. make_dataset reseeds numpy's and Python's global
    RNGs, so their states are saved and restored around it.

    Args:
        seed: Unused here (the data set is the paper's fixed one).
        data_dir: Unused.
        shuffle_seq: The paper's variant with the 40 positions permuted (spatial structure gone).
    """
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib: load lazily

    args = get_dataset_args()
    args.shuffle_seq = shuffle_seq
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return RawDataset(
        x=torch.as_tensor(data["x"], dtype=torch.float32),  # (4000, 40)
        y=torch.as_tensor(data["y"], dtype=torch.int64),
        num_classes=10,
        class_names=MNIST_CLASSES,
        x_test=torch.as_tensor(data["x_test"], dtype=torch.float32),  # (1000, 40)
        y_test=torch.as_tensor(data["y_test"], dtype=torch.int64),
    )


# ---------------------------------------------------------------- CIFAR-10

_CIFAR_BATCHES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]


def parse_cifar_batches(read: Callable[[str], bytes]) -> dict[str, np.ndarray]:
    """Decode the python-pickle batches of CIFAR-10 (Krizhevsky 2009).

    Args:
        read: Returns the bytes of a member of cifar-10-batches-py/ by name ("data_batch_1",
            ..., "test_batch", "batches.meta").

    Returns:
        {"x": uint8 (50000, 3, 32, 32), "y": int64 (50000,), "x_test", "y_test"}.
    """

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            record = load_pickle(io.BytesIO(read(name)), encoding="bytes")
            data = np.asarray(record[b"data"], dtype=np.uint8)  # (n, 3072): R, G, B planes
            labels = np.asarray(record[b"labels"], dtype=np.int64)
        except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as err:
            raise DataError(f"CIFAR-10 batch {name} is not a valid batch: {err}") from err
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise DataError(f"CIFAR-10 batch {name} has data {data.shape}, labels {labels.shape}")
        # (n, 3072) -> (n, 3, 32, 32): the row is 1024 red, 1024 green, 1024 blue values
        return data.reshape(-1, 3, 32, 32), labels

    train = [batch(name) for name in _CIFAR_BATCHES]
    x_test, y_test = batch("test_batch")
    return {
        "x": np.concatenate([x for x, _ in train]),
        "y": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
    }


def _decode_jpg(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"cannot decode image {name}: {err}") from err
    if pixels.shape != (32, 32, 3):
        raise DataError(f"{name} is {pixels.shape[1]}x{pixels.shape[0]}, expected 32x32")
    return pixels.transpose(2, 0, 1)  # (H, W, 3) -> (3, H, W)


def parse_cifar_jpg(items: list[tuple[str, Callable[[], bytes]]]) -> dict[str, np.ndarray]:
    """Decode CIFAR-10 from {train,test}/<class>/<file>.jpg entries.

    Args:
        items: (relative path, reader) pairs; paths may carry a leading folder
            ("CIFAR-10-images/train/cat/0001.jpg"). Non-jpg entries are ignored.

    Returns:
        The same arrays as parse_cifar_batches, ordered by (split, class, file name). The order
        within a class is not the canonical batch order, and the pixels are JPEG-lossy.
    """
    found: dict[str, list[tuple[int, str, Callable[[], bytes]]]] = {"train": [], "test": []}
    for path, reader in items:
        parts = path.replace("\\", "/").split("/")
        if len(parts) < 3 or not parts[-1].lower().endswith(".jpg"):
            continue
        split, class_name, file_name = parts[-3:]
        if split not in found:
            continue
        if class_name not in CIFAR10_CLASSES:
            raise DataError(f"unknown CIFAR-10 class folder '{class_name}' in {path}")
        found[split].append((CIFAR10_CLASSES.index(class_name), file_name, reader))
    arrays: dict[str, np.ndarray] = {}
    for split, prefix in (("train", ""), ("test", "_test")):
        entries = sorted(found[split], key=lambda e: (e[0], e[1]))
        if not entries:
            raise DataError(f"no {split}/<class>/*.jpg images found in the CIFAR-10 JPEG copy")
        arrays["x" + prefix] = np.stack([_decode_jpg(read(), name) for _, name, read in entries])
        arrays["y" + prefix] = np.array([label for label, _, _ in entries], dtype=np.int64)
    return arrays


def _tar_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise DataError(f"{member.name} is not a regular file in the archive")
    return handle.read()


def _read_tar(path: Path, parse: Callable[[tarfile.TarFile], dict[str, np.ndarray]]) -> dict:
    try:
        with tarfile.open(path, "r:*") as tar:
            return parse(tar)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read archive {path}: {err}") from err


def _cifar_from_python_tar(path: Path) -> dict[str, np.ndarray]:
    def parse(tar: tarfile.TarFile) -> dict[str, np.ndarray]:
        # read in archive order (seeking back in a .tar.gz restarts decompression)
        contents = {Path(m.name).name: _tar_bytes(tar, m) for m in tar if m.isfile()}

        def read(name: str) -> bytes:
            if name not in contents:
                raise DataError(f"{path} has no member cifar-10-batches-py/{name}")
            return contents[name]

        return parse_cifar_batches(read)

    return _read_tar(path, parse)


def _cifar_from_jpg_tar(path: Path) -> dict[str, np.ndarray]:
    def parse(tar: tarfile.TarFile) -> dict[str, np.ndarray]:
        # read every member in archive order while streaming: random access into a .tar.gz
        # restarts decompression from the beginning (60,000 times)
        contents = [(m.name, _tar_bytes(tar, m)) for m in tar if m.isfile()]
        return parse_cifar_jpg([(name, partial(bytes, data)) for name, data in contents])

    return _read_tar(path, parse)


def _jpg_dir(data_dir: str | Path | None) -> Path | None:
    """An extracted JPEG copy: <folder>/train/<class>/*.jpg in a searched folder."""
    for folder in search_folders(SOURCES["cifar10_jpg"], data_dir):
        if (folder / "train").is_dir() and (folder / "test").is_dir():
            return folder
    return None


def _cifar_from_jpg_dir(folder: Path) -> dict[str, np.ndarray]:
    files = sorted(p for split in ("train", "test") for p in (folder / split).glob("*/*.jpg"))
    items = [(p.relative_to(folder).as_posix(), p.read_bytes) for p in files]
    return parse_cifar_jpg(items)


def _listing_digest(folder: Path) -> str:
    """A cheap staleness key for an extracted folder: names, sizes and mtimes of its jpgs."""
    sha = hashlib.sha256()
    for p in sorted(folder.glob("*/*/*.jpg")):
        stat = p.stat()
        sha.update(f"{p.relative_to(folder).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return sha.hexdigest()


def load_cifar10(
    *, seed: int = 42, data_dir: str | Path | None = None, source: str = "auto"
) -> RawDataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000 + 10,000 colour images, uint8 (N, 3, 32, 32), 10 classes.

    Sources, chosen by ``source``:
        "pickle": the canonical python batches, as the extracted cifar-10-batches-py/ folder
            (each batch checked by MD5) or the cifar-10-python.tar.gz archive (downloaded if
            missing), both under <data dir or cache>/cifar10/.
        "jpg": the offline JPEG copy, as cifar10-jpg/CIFAR-10-images.tar.gz (checked by SHA-256)
            or extracted as cifar10-jpg/{train,test}/<class>/*.jpg (not checksummable). JPEG is
            lossy: pixels differ slightly from the canonical ones (channel means by about 1e-4).
        "auto": the first of extracted batches, pickle archive, JPEG archive, JPEG folder that
            exists locally; if none does, download the canonical archive.
    Decoded arrays are cached under <cache>/decoded/ keyed by the source checksum (decoding the
    60,000 JPEGs takes about 6 s, reading the cache about 0.2 s).
    """
    assert source in ("auto", "pickle", "jpg"), f"source must be auto, pickle or jpg: {source}"
    jpg_dir = _jpg_dir(data_dir)
    if source == "auto":
        pickle_here = available_locally("cifar10_batches", data_dir) or available_locally(
            "cifar10_python", data_dir
        )
        jpg_here = available_locally("cifar10_jpg", data_dir) or jpg_dir is not None
        source = "jpg" if jpg_here and not pickle_here else "pickle"  # else download the pickle

    if source == "pickle" and available_locally("cifar10_batches", data_dir):
        paths = fetch("cifar10_batches", data_dir)
        by_name = {Path(name).name: path for name, path in paths.items()}
        digest = hashlib.sha256(
            "".join(s.md5 or "" for s in SOURCES["cifar10_batches"].files).encode()
        )
        arrays = cached_arrays(
            "cifar10-batches",
            digest.hexdigest(),
            lambda: parse_cifar_batches(lambda name: by_name[name].read_bytes()),
        )
    elif source == "pickle":
        archive = fetch("cifar10_python", data_dir)["cifar-10-python.tar.gz"]
        digest = SOURCES["cifar10_python"].files[0].md5 or file_digests(archive)[1]
        arrays = cached_arrays("cifar10-python", digest, lambda: _cifar_from_python_tar(archive))
    elif available_locally("cifar10_jpg", data_dir) or jpg_dir is None:
        archive = fetch("cifar10_jpg", data_dir)["CIFAR-10-images.tar.gz"]
        digest = SOURCES["cifar10_jpg"].files[0].sha256 or file_digests(archive)[0]
        arrays = cached_arrays("cifar10-jpg", digest, lambda: _cifar_from_jpg_tar(archive))
    else:
        folder = jpg_dir
        logger.info("CIFAR-10 from the extracted JPEG folder %s (no checksums)", folder)
        arrays = cached_arrays(
            "cifar10-jpgdir", _listing_digest(folder), lambda: _cifar_from_jpg_dir(folder)
        )
    return RawDataset(
        x=torch.from_numpy(arrays["x"]),
        y=torch.from_numpy(arrays["y"]),
        num_classes=10,
        class_names=list(CIFAR10_CLASSES),
        x_test=torch.from_numpy(arrays["x_test"]),
        y_test=torch.from_numpy(arrays["y_test"]),
        transform=to_float,
    )


# ---------------------------------------------------------------- ISBI 2012 membranes


@dataclass
class SegmentationData:
    """Images with per-pixel class masks (not a RawDataset: labels are (N, H, W), not (N,)).

    It is its own Splits (data_utils.base): ``loaders`` gives ArrayLoaders of (image, mask)
    batches, x float32 (B, C, H, W) after ``transform`` and y int64 (B, H, W). When the source
    publishes no test masks (ISBI), the test loader reads the validation slices: test = val.

    Attributes:
        name: Registry name.
        x_train: Training images, uint8 (N, C, H, W).
        y_train: Per-pixel class indices, int64 (N, H, W): the layout CrossEntropyLoss expects.
        x_val: Held-out labelled images, uint8 (M, C, H, W) (a contiguous block of slices).
        y_val: Their masks, int64 (M, H, W).
        x_test: Unlabelled test images, uint8 (K, C, H, W) (ISBI publishes no test masks); for
            predictions and figures, not for metrics.
        num_classes: Number of pixel classes.
        class_names: Name of each pixel class.
        transform: Per-batch image transform (uint8 -> float in [0, 1]).
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    num_classes: int
    class_names: list[str]
    transform: Transform | None = to_float

    def __post_init__(self) -> None:
        assert len(self.class_names) == self.num_classes, "one class name per pixel class"
        for split, x, y in (("train", self.x_train, self.y_train), ("val", self.x_val, self.y_val)):
            assert x.dim() == 4 and y.dim() == 3, f"{split}: need x (N, C, H, W) and y (N, H, W)"
            assert (
                x.shape[0] == y.shape[0] and x.shape[2:] == y.shape[1:]
            ), f"{split}: images {tuple(x.shape)} and masks {tuple(y.shape)} do not match"
            assert y.dtype == torch.int64, f"{split}: masks must be int64, got {y.dtype}"
            if y.numel() > 0:
                assert (
                    int(y.min()) >= 0 and int(y.max()) < self.num_classes
                ), f"{split}: mask values must lie in 0..{self.num_classes - 1}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, (C, H, W)."""
        return tuple(self.x_train.shape[1:])

    def loaders(
        self,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        eval_batch_size: int | None = None,
    ) -> tuple[ArrayLoader, ArrayLoader, ArrayLoader]:
        """(image, mask) ArrayLoaders: train shuffled per (seed, epoch), val and test = val."""
        eval_bs = eval_batch_size or batch_size
        common = dict(transform=self.transform, rank=rank, world_size=world_size)
        train = ArrayLoader(
            self.x_train, self.y_train, batch_size, shuffle=True, seed=seed, **common
        )
        val = ArrayLoader(self.x_val, self.y_val, eval_bs, **common)
        test = ArrayLoader(self.x_val, self.y_val, eval_bs, **common)
        return train, val, test

    def facts(self) -> dict[str, Any]:
        """Data set name, number and names of the pixel classes, and the shape of one image."""
        return class_facts(self)

    def summary(self) -> str:
        """E.g. "train 24 images | val 6 | test = val (no test masks) | input (1, 512, 512)"."""
        return (
            f"train {len(self.x_train)} images | val {len(self.x_val)} | test = val (no test "
            f"masks) | input {self.input_shape} | {self.num_classes} classes"
        )


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))  # (H, W) uint8 grey
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"cannot decode image {path}: {err}") from err


def load_isbi_membrane(
    *, seed: int = 42, data_dir: str | Path | None = None, val_fraction: float = 0.2
) -> SegmentationData:
    """ISBI 2012 EM membrane segmentation (the U-Net paper's data, Ronneberger et al. 2015).

    30 labelled images of 512x512 and 30 unlabelled test images. Mask pixels are 1 for cell
    interior (white, 255 in the PNGs) and 0 for membrane (black). A contiguous block of
    round(val_fraction * 30) labelled slices (6 by default) is held out for validation, its first
    slice a seeded choice: the slices are consecutive sections of one stack and neighbours look
    alike, so slices scattered among the training ones would flatter a model. The challenge's
    test masks are not public, so the loaders' test split is this validation split.

    Args:
        seed: Seed of the first slice of the validation block.
        data_dir: Data directory holding isbi2012-membrane/.
        val_fraction: Fraction of the 30 labelled slices held out (0: train on all 30, as the
            U-Net paper did, with empty val/test loaders).
    """
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    paths = fetch("isbi_membrane", data_dir)

    def stack(names: list[str]) -> np.ndarray:
        return np.stack([_read_png(paths[name]) for name in names])  # (30, H, W)

    images = torch.from_numpy(stack([f"train/image/{i}.png" for i in range(30)])).unsqueeze(1)
    masks = torch.from_numpy((stack([f"train/label/{i}.png" for i in range(30)]) > 127))
    masks = masks.to(torch.int64)  # (30, H, W) in {0, 1}
    test = stack([f"test/{i}.png" for i in range(30)])
    n_val = max(1, round(val_fraction * 30)) if val_fraction > 0 else 0
    start = int(np.random.default_rng(seed).integers(0, 30 - n_val + 1))
    is_val = np.zeros(30, dtype=bool)
    is_val[start : start + n_val] = True  # slices start .. start + n_val - 1
    val = torch.from_numpy(np.flatnonzero(is_val))
    train = torch.from_numpy(np.flatnonzero(~is_val))
    return SegmentationData(
        name="isbi_membrane",
        x_train=images[train],  # (30 - n_val, 1, H, W)
        y_train=masks[train],  # (30 - n_val, H, W)
        x_val=images[val],
        y_val=masks[val],
        x_test=torch.from_numpy(test).unsqueeze(1),  # (30, H, W) -> (30, 1, H, W)
        num_classes=2,
        class_names=["membrane", "cell"],
    )
