"""The name and paths of the BitNet b1.58 character language model."""

from pathlib import Path

# Stored in every checkpoint (evaluate.py refuses another model's) and the registry's key.
MODEL_NAME = "bitnet"

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
LOGS_DIR = MODEL_DIR / "outputs" / "logs"
MODELS_DIR = MODEL_DIR / "outputs" / "models"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"

# The three networks of src/compare.py, each an experiment of experiments.yaml: the ternary
# GPT, the same GPT in full precision at the same width, and the ternary GPT at double width.
COMPARED = ("shakespeare", "shakespeare_fp32", "shakespeare_wide")
