"""Model metadata and output paths for the CIFAR-style ResNet."""

from pathlib import Path

MODEL_NAME = "resnet"
YEAR_INTRODUCED = 2015
ORIGINAL_AUTHOR = "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun"
PAPER = (
    "K. He, X. Zhang, S. Ren and J. Sun, 'Deep Residual Learning for Image Recognition', "
    "arXiv:1512.03385, 2015 (CVPR 2016)"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"
