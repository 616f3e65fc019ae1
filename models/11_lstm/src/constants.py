"""The name and paths of the LSTM."""

from pathlib import Path

MODEL_NAME = "lstm"  # stored in every checkpoint; the registry name (utils.registry)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
LOGS_DIR = MODEL_DIR / "outputs" / "logs"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"

# The sequence lengths of the adding comparison (compare.py): experiments adding_50, ... here
# and in models/10_rnn, with the same budget for both networks.
ADDING_LENGTHS = (50, 100, 200)
