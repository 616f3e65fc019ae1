"""The name and paths of the generative adversarial network."""

from pathlib import Path

# Stored in every checkpoint (evaluate.py refuses another model's) and the registry's key.
MODEL_NAME = "gan"

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
LOGS_DIR = MODEL_DIR / "outputs" / "logs"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"
