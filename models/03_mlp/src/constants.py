"""The name and paths of the multi-layer perceptron."""

from pathlib import Path

MODEL_NAME = "mlp"  # stored in every checkpoint; the registry name (utils.registry)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
LOGS_DIR = MODEL_DIR / "outputs" / "logs"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"

# Pixel shifts of the weakness experiment (shift.py): 0 = the centred test images.
SHIFTS = (0, 1, 2, 3, 4, 5, 6, 7, 8)
