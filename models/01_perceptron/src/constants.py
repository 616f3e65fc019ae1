"""Model metadata and output paths for the perceptron."""

from pathlib import Path

MODEL_NAME = "perceptron"
YEAR_INTRODUCED = 1957
ORIGINAL_AUTHOR = "Frank Rosenblatt"
PAPER = (
    "F. Rosenblatt, 'The Perceptron: A Probabilistic Model for Information Storage and "
    "Organization in the Brain', Psychological Review 65(6), 1958"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"
