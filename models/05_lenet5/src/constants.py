"""Model metadata and output paths for LeNet-5."""

from pathlib import Path

MODEL_NAME = "lenet5"
YEAR_INTRODUCED = 1998
ORIGINAL_AUTHOR = "Yann LeCun, Leon Bottou, Yoshua Bengio, Patrick Haffner"
PAPER = (
    "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, 'Gradient-Based Learning Applied to "
    "Document Recognition', Proceedings of the IEEE 86(11), 2278-2324, 1998"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"

INPUT_SIZE = 32  # Sec. II-B: a 32x32 input field, larger than the 20x20 digits it holds
