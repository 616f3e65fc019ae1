"""The name and paths of Mask R-CNN."""

from pathlib import Path

MODEL_NAME = "mask_rcnn"  # stored in every checkpoint; the registry name (utils.registry)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
LOGS_DIR = MODEL_DIR / "outputs" / "logs"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"
