"""Model metadata and output paths for GoogLeNet."""

from pathlib import Path

MODEL_NAME = "googlenet"
YEAR_INTRODUCED = 2014
ORIGINAL_AUTHOR = (
    "Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, Dragomir Anguelov, "
    "Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich"
)
PAPER = "C. Szegedy et al., 'Going Deeper with Convolutions', arXiv:1409.4842, 2014 (CVPR 2015)"

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"

# The VGG folder, for compare.py (parameters and FLOPs against accuracy on the same budget).
VGG_DIR = MODEL_DIR.parent / "07_vgg"
