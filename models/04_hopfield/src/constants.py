"""The name and paths of the Hopfield network."""

from pathlib import Path

MODEL_NAME = "hopfield"  # stored in every checkpoint; the registry name (utils.registry)

# Amit, Gutfreund and Sompolinsky (1985): the largest P / N at which stored random patterns are
# still retrieved, in the limit of many neurons.
CRITICAL_LOAD = 0.138

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
LOGS_DIR = MODEL_DIR / "outputs" / "logs"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"
