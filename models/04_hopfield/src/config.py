"""Configuration of the Hopfield network: storage, binarisation and recall, with their reasons."""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import BaseConfig, OptimizerName


@dataclass
class HopfieldConfig(BaseConfig):
    learns_by = "Hebbian storage"  # not gradient descent: BaseConfig requires optimizer "none"
    # Hebbian storage is a single pass over the stream. A second epoch would find every class
    # already stored and change nothing, so "epochs" is fixed at 1.
    epochs: int = 1
    # Images handed to the storage rule at once; only the first of each new class is kept.
    batch_size: int = 1000
    # No step size: W = (1/N) sum xi xi^T, and any other scale changes no sign. Kept at 1.
    lr: float = 1.0
    optimizer: OptimizerName = "none"
    # Memories stored, one per class, the first image of each class in the shuffled stream.
    # Random patterns fit about 0.138 N; binarised digits, which share most of their pixels
    # (the background), fit 2 (README, capacity).
    num_patterns: int = 2
    # A pixel above it is +1 (ink), else -1. 0.5 on the [0, 1] scale of MNIST.
    threshold: float = 0.5
    # Sweeps over all neurons before recall gives up; fixed points come within a few.
    max_sweeps: int = 50
    # Binary pixels need no standardisation, and the threshold is on the raw scale.
    standardize: bool = False
    # Probing runs the dynamics from every validation image: 5% of MNIST is 3000 probes.
    val_fraction: float = 0.05

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                self.epochs == 1,
                f"storage is one pass over the data: epochs must be 1 (got {self.epochs})",
            ),
            (
                self.lr == 1.0,
                f"Hebbian storage has no learning rate: leave lr at 1 (got {self.lr})",
            ),
            (self.num_patterns >= 1, f"num_patterns must be >= 1 (got {self.num_patterns})"),
            (self.max_sweeps >= 1, f"max_sweeps must be >= 1 (got {self.max_sweeps})"),
        ]
