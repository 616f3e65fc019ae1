"""Model metadata and output paths for VGG."""

from pathlib import Path

MODEL_NAME = "vgg"
YEAR_INTRODUCED = 2014
ORIGINAL_AUTHOR = "Karen Simonyan, Andrew Zisserman"
PAPER = (
    "K. Simonyan and A. Zisserman, 'Very Deep Convolutional Networks for Large-Scale Image "
    "Recognition', arXiv:1409.1556, 2014 (ICLR 2015)"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"
