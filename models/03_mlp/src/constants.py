"""Model metadata and output paths for the multi-layer perceptron."""

from pathlib import Path

MODEL_NAME = "mlp"
YEAR_INTRODUCED = 1986
ORIGINAL_AUTHOR = "David E. Rumelhart, Geoffrey E. Hinton, Ronald J. Williams"
PAPER = (
    "D. E. Rumelhart, G. E. Hinton and R. J. Williams, 'Learning representations by "
    "back-propagating errors', Nature 323, 533-536, 1986"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"

# Pixel shifts of the weakness experiment (shift.py): 0 = the centred test images.
SHIFTS = (0, 1, 2, 3, 4, 5, 6, 7, 8)
