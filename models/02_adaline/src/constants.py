"""Model metadata and output paths for ADALINE."""

from pathlib import Path

MODEL_NAME = "adaline"
YEAR_INTRODUCED = 1960
ORIGINAL_AUTHOR = "Bernard Widrow and Marcian E. Hoff"
PAPER = (
    "B. Widrow and M. E. Hoff, 'Adaptive Switching Circuits', IRE WESCON Convention Record, "
    "Part 4, 96-104, 1960"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"
