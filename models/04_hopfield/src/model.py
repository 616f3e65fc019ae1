"""Hopfield's network (1982), in NumPy: a content-addressable memory of binary neurons.

Paper: J. J. Hopfield, "Neural networks and physical systems with emergent collective
computational abilities", PNAS 79(8), 2554-2558, 1982. Capacity: D. J. Amit, H. Gutfreund and
H. Sompolinsky, "Storing infinite numbers of patterns in a spin-glass model of neural networks",
Phys. Rev. Lett. 55(14), 1530-1533, 1985 (retrieval breaks down at P / N = 0.138).

What is implemented:
- N binary neurons with states s_i = +1 or -1 (the paper's V_i = 0 or 1, written s = 2V - 1),
  fully connected by symmetric weights with a zero diagonal (T_ij = T_ji, T_ii = 0).
- Hebbian storage, the outer-product rule: W = (1/N) sum_mu xi_mu xi_mu^T with the diagonal set
  to 0 (the paper's T_ij = sum_s (2V_i^s - 1)(2V_j^s - 1); the 1/N only rescales every field and
  changes no sign).
- Asynchronous dynamics: one neuron at a time, s_i <- sign(h_i) with the field
  h_i = sum_j W_ij s_j; a zero field leaves s_i as it is. Every sweep visits all neurons in a new
  random order (the paper's neurons update at random times); recall stops at the first sweep
  without a flip, a fixed point, or after max_sweeps.
- The energy E = -1/2 s^T W s. Flipping s_i changes E by -2 |h_i| <= 0 when W is symmetric with
  a zero diagonal, so asynchronous dynamics never raise E and must end in a local minimum: the
  stored patterns, their inversions (E(-s) = E(s)) and spurious mixtures of them.
- Images as patterns: a pixel above a threshold is +1 (ink), else -1.
- Storage as the Trainer's one-epoch "fit": train_step stores, from the stream of training
  images, the first image of each class not yet stored, until num_patterns memories are held.
  Probing (forward) binarises each image, runs the dynamics from it and returns, per class, the
  overlap m = s.xi / N of the final state with that class's memory (NO_MEMORY for classes
  without one), so the shared Evaluator reports the nearest memory's class as its prediction.

Deliberately left out: neuron thresholds U_i (zero, as in the paper's capacity discussion, for
patterns of +-1), the graded-response network (Hopfield 1984), synchronous updates (they can
oscillate between two states, so the energy argument needs the asynchronous rule), and storage
rules for correlated patterns (pseudo-inverse, Personnaz et al. 1985; Storkey 1997). Those came
later; the collapse of plain Hebbian storage on correlated digits is part of this model's story.

Known outcomes, asserted in tests: the energy never increases under asynchronous updates (random
symmetric weights with a zero diagonal, random states); random patterns are recalled at
P = 0.05 N and lost at P = 0.25 N for N = 200; stored digits are recalled from corrupted cues.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from config import HopfieldConfig

from data_utils import DatasetSplits
from engine.modelio import array_state, load_array_state
from utils.exceptions import ConfigError

# Score of a class that has no memory: below every overlap, which lies in [-1, 1].
NO_MEMORY = -2.0
# The "loss" of storage is the crosstalk between the memories (the share of their bits a
# single update would flip), which grows with every pattern stored: not an objective to lower.
SMOKE_LOSS_DECREASES = False


def binarize(x: np.ndarray, threshold: float) -> np.ndarray:
    """Images (B, ...) -> states (B, N) of +1 (value above threshold) and -1."""
    x = x.reshape(len(x), -1)  # (B, ...) -> (B, N)
    return np.where(x > threshold, 1.0, -1.0)


def hebbian_weights(patterns: np.ndarray) -> np.ndarray:
    """The outer-product rule: (P, N) patterns of +-1 -> (N, N) weights, zero diagonal."""
    weight = patterns.T @ patterns / patterns.shape[1]  # (N, P) @ (P, N) -> (N, N)
    np.fill_diagonal(weight, 0.0)
    return weight


def energy(weight: np.ndarray, states: np.ndarray) -> np.ndarray:
    """E = -1/2 s^T W s for each state: (B, N) -> (B,)."""
    return -0.5 * np.sum((states @ weight) * states, axis=1)  # (B, N) @ (N, N) -> (B, N) -> (B,)


def overlaps(states: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """m = s.xi / N of every state with every pattern: (B, N), (P, N) -> (B, P), in [-1, 1]."""
    return states @ patterns.T / states.shape[1]


def recall(
    weight: np.ndarray,
    states: np.ndarray,
    rng: np.random.Generator,
    max_sweeps: int = 50,
    trace: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, int]:
    """Asynchronous dynamics from each of B starting states until no neuron flips.

    The B states are independent networks updated in the same random neuron order (each is a
    valid asynchronous run). The fields h = s W are kept up to date incrementally: a flip of
    neuron i in some states adds (new - old) W_i to their fields, so a sweep costs O(N B) plus
    O(N) per flip instead of O(N^2 B).

    Args:
        weight: (N, N) symmetric weights with a zero diagonal.
        states: (B, N) starting states of +-1 (not modified).
        rng: Source of the update orders.
        max_sweeps: Give up after this many sweeps over all neurons.
        trace: If a list, the energies (B,) are appended after every single-neuron update,
            tracked as E += -(new - old) h_i (exact for a zero diagonal).

    Returns:
        The final states (B, N) and the number of sweeps run (the last one without a flip).
    """
    states = states.astype(np.float64)  # a copy: the caller's cues stay as they were
    fields = states @ weight  # (B, N) @ (N, N) -> (B, N); W is symmetric, so each row is W s
    energies = energy(weight, states) if trace is not None else None  # (B,)
    # A field that is zero up to rounding is a tie, and a neuron at a tie keeps its state. With
    # Hebbian weights k/N a true field is a multiple of 1/N; which way a rounding error of 1e-16
    # tipped an exact zero would depend on the order in which BLAS sums ``states @ weight``,
    # that is on its thread count, and so would the recall statistics.
    tie = 1e-9 * max(float(np.abs(weight).max(initial=0.0)), np.finfo(np.float64).tiny)
    for sweep in range(1, max_sweeps + 1):
        flips = 0
        for i in rng.permutation(weight.shape[0]):
            field = fields[:, i]  # (B,)
            new = np.where(field > tie, 1.0, np.where(field < -tie, -1.0, states[:, i]))
            changed = np.flatnonzero(new != states[:, i])
            if len(changed):
                step = new[changed] - states[changed, i]  # (k,) of +-2
                if energies is not None:
                    energies[changed] -= step * field[changed]
                # (k, 1) * (1, N) -> (k, N): every field moves by W_ij (new - old) of neuron i
                fields[changed] += step[:, None] * weight[i]
                states[changed, i] = new[changed]
                flips += len(changed)
            if energies is not None:
                trace.append(energies.copy())
        if flips == 0:
            return states, sweep
    return states, max_sweeps


def corrupt(
    patterns: np.ndarray,
    kind: str,
    fraction: float,
    rng: np.random.Generator,
    image_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Cues made from patterns (P, N): flip a random fraction of pixels, or mask rows.

    ``flip`` inverts each pixel with probability ``fraction``. ``mask`` sets the bottom
    ``fraction`` of the image rows (all of the vector's last entries without an image shape) to
    -1, the background: the network sees the top of the digit only.
    """
    cues = patterns.astype(np.float64)  # (P, N), a copy
    if kind == "flip":
        return np.where(rng.random(cues.shape) < fraction, -cues, cues)
    assert kind == "mask", f"kind is 'flip' or 'mask', got {kind!r}"
    height, width = image_shape if image_shape is not None else (cues.shape[1], 1)
    first_row = height - int(round(fraction * height))
    cues.reshape(len(cues), height, width)[:, first_row:, :] = -1.0  # (P, N) -> (P, H, W) view
    return cues


def recall_from_cues(
    network: "HopfieldNetwork",
    kind: str,
    fraction: float,
    copies: int,
    rng: np.random.Generator,
    image_shape: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """Pattern completion: corrupt every stored memory ``copies`` times, recall, compare.

    Returns:
        ``cues``, ``final`` and ``targets`` (P * copies, N), and ``overlap`` (P * copies,): the
        final overlap with the memory the cue was made from (1 = exact recall).
    """
    memories, _ = network.stored()
    targets = np.repeat(memories, copies, axis=0)  # (P, N) -> (P * copies, N)
    cues = corrupt(targets, kind, fraction, rng, image_shape)
    final, _ = recall(network.weight, cues, rng, network.max_sweeps)
    overlap = np.sum(final * targets, axis=1) / targets.shape[1]  # (P * copies,)
    return {"cues": cues, "final": final, "targets": targets, "overlap": overlap}


class HopfieldNetwork:
    """A Hopfield network that stores one image per class from the training stream.

    Args:
        num_neurons: N, one neuron per pixel.
        num_classes: Classes of the data set (the width of the scores).
        num_patterns: Memories to store (at most one per class).
        threshold: Pixel values above it become +1, the rest -1.
        max_sweeps: Sweeps over all neurons before recall gives up on a fixed point.
        seed: Seed of the update order; every probe starts from it, so results do not depend on
            how the data is batched or on what was probed before.
    """

    # Read by the gradient audit (engine/audit.py): storage is one-shot, so update ratios leave
    # the healthy bands by design; logged once at INFO with the reason instead of warned about.
    audit_expected = {
        "unstable": "Hebbian storage adds a whole memory's outer product in one step",
        "frozen": "a step that stores no new memory changes nothing (one memory per class)",
    }

    def __init__(
        self,
        num_neurons: int,
        num_classes: int,
        num_patterns: int = 2,
        threshold: float = 0.5,
        max_sweeps: int = 50,
        seed: int = 0,
    ) -> None:
        assert num_neurons >= 2, "a network needs at least two neurons"
        assert 1 <= num_patterns <= num_classes, "one memory per class: 1 <= num_patterns <= C"
        self.num_classes = num_classes
        self.threshold = threshold
        self.max_sweeps = max_sweeps
        self.seed = seed
        self.weight = np.zeros((num_neurons, num_neurons))  # (N, N)
        self.memories = np.zeros((num_patterns, num_neurons))  # (P, N), stored rows first
        self.memory_labels = -np.ones(num_patterns, dtype=np.int64)  # (P,), -1 = free slot

    @property
    def num_stored(self) -> int:
        return int((self.memory_labels >= 0).sum())

    def store(self, patterns: np.ndarray, labels: np.ndarray) -> None:
        """Add patterns (K, N) of +-1 to the memory: W += (1/N) sum xi xi^T, diagonal 0."""
        start = self.num_stored
        assert start + len(patterns) <= len(self.memories), "no free memory slot left"
        self.weight += hebbian_weights(patterns)
        self.memories[start : start + len(patterns)] = patterns
        self.memory_labels[start : start + len(patterns)] = labels

    def stored(self) -> tuple[np.ndarray, np.ndarray]:
        """The memories (P_stored, N) and their class labels (P_stored,)."""
        return self.memories[: self.num_stored], self.memory_labels[: self.num_stored]

    def crosstalk(self) -> float:
        """Share of the memories' bits that one update would flip: 0 when all are fixed points."""
        memories, _ = self.stored()
        if len(memories) == 0:
            return 0.0
        fields = memories @ self.weight  # (P, N)
        return float(np.mean(fields * memories < 0))

    def train_step(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Store the batch's first image of each class without a memory (the extension point).

        Returns:
            ``loss``: the crosstalk of all memories stored so far (0 = every memory is a fixed
            point); ``stored``: memories added from this batch. There is no training accuracy.
        """
        states = binarize(x, self.threshold)  # (B, N)
        new_patterns, new_labels = [], []
        for state, label in zip(states, y):
            full = self.num_stored + len(new_labels) == len(self.memories)
            if full or label in self.memory_labels or label in new_labels:
                continue
            new_patterns.append(state)
            new_labels.append(int(label))
        if new_labels:
            self.store(np.stack(new_patterns), np.array(new_labels))
        return {"loss": self.crosstalk(), "stored": float(len(new_labels))}

    def class_scores(self, states: np.ndarray) -> np.ndarray:
        """Overlap of each state with each class's memory: (B, N) -> (B, C), NO_MEMORY if none."""
        scores = np.full((len(states), self.num_classes), NO_MEMORY)
        memories, labels = self.stored()
        scores[:, labels] = overlaps(states, memories)  # (B, P_stored) into their class columns
        return scores

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Probe with images (B, ...): binarise, recall, score the final states (B, C)."""
        rng = np.random.default_rng(self.seed)
        final, _ = recall(self.weight, binarize(x, self.threshold), rng, self.max_sweeps)
        return self.class_scores(final)

    __call__ = forward

    def state_dict(self) -> dict[str, np.ndarray]:
        return array_state(self, ["weight", "memories", "memory_labels"])

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        dtypes = {"weight": np.float64, "memories": np.float64, "memory_labels": np.int64}
        load_array_state(self, state, dtypes)


def recall_error(scores: np.ndarray, y: np.ndarray) -> float:
    """Mean 1 - m of the final state with the memory of the sample's own class (m = 0 if none).

    0 when every probe ends exactly on its class's memory; 1 for a state unrelated to it; 2 for
    its inversion.
    """
    own = scores[np.arange(len(y)), y]  # (B,)
    return float(np.mean(1.0 - np.where(own > NO_MEMORY, own, 0.0)))


def create_model(config: HopfieldConfig, splits: DatasetSplits) -> HopfieldNetwork:
    """Build the network for a config and a dataset (the ModelSpec hook)."""
    if config.num_patterns > splits.num_classes:
        raise ConfigError(
            f"num_patterns {config.num_patterns} > {splits.num_classes} classes of "
            f"{splits.name}: one memory per class"
        )
    return HopfieldNetwork(
        num_neurons=splits.num_features,
        num_classes=splits.num_classes,
        num_patterns=config.num_patterns,
        threshold=config.threshold,
        max_sweeps=config.max_sweeps,
        seed=config.seed,
    )


def create_criterion(config: HopfieldConfig) -> Callable[[np.ndarray, np.ndarray], float]:
    """The loss the Evaluator reports on probes: the recall error 1 - m."""
    return recall_error
