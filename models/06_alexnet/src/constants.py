"""Model metadata and output paths for AlexNet."""

from pathlib import Path

MODEL_NAME = "alexnet"
YEAR_INTRODUCED = 2012
ORIGINAL_AUTHOR = "Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton"
PAPER = (
    "A. Krizhevsky, I. Sutskever and G. E. Hinton, 'ImageNet Classification with Deep "
    "Convolutional Neural Networks', Advances in Neural Information Processing Systems 25, 2012"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"
ABLATIONS_DIR = OUTPUT_DIR / "ablations"

# Local response normalisation, Sec. 3.3: "k = 2, n = 5, alpha = 1e-4 and beta = 0.75".
LRN_SIZE = 5
LRN_K = 2.0
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
