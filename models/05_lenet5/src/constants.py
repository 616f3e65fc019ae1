"""The name and paths of LeNet-5."""

from pathlib import Path

MODEL_NAME = "lenet5"  # stored in every checkpoint; the registry name (utils.registry)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"

INPUT_SIZE = 32  # Sec. II-B: a 32x32 input field, larger than the 20x20 digits it holds
