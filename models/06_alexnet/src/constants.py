"""The name and paths of AlexNet."""

from pathlib import Path

MODEL_NAME = "alexnet"  # stored in every checkpoint; the registry name (utils.registry)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"
ABLATIONS_DIR = MODEL_DIR / "outputs" / "ablations"

# Local response normalisation, Sec. 3.3: "k = 2, n = 5, alpha = 1e-4 and beta = 0.75".
LRN_SIZE = 5
LRN_K = 2.0
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
