"""Model metadata and output paths for the Hopfield network."""

from pathlib import Path

MODEL_NAME = "hopfield"
YEAR_INTRODUCED = 1982
ORIGINAL_AUTHOR = "John J. Hopfield"
PAPER = (
    "J. J. Hopfield, 'Neural networks and physical systems with emergent collective "
    "computational abilities', PNAS 79(8), 2554-2558, 1982"
)
# Amit, Gutfreund and Sompolinsky (1985): the largest P / N at which stored random patterns are
# still retrieved, in the limit of many neurons.
CRITICAL_LOAD = 0.138

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"
