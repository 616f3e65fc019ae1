"""The name and paths of [MODEL_TITLE].

Template example: multinomial logistic regression ("softmax regression"). Replace the name with
your model's; add a path or a constant only when code of this folder reads it.
"""

from pathlib import Path

# [MODEL_NAME]: lowercase identifier, stored in every checkpoint (evaluate.py refuses a checkpoint
# of another model), used in plot titles, and the model's key in utils/registry.py MODELS.
MODEL_NAME = "softmax_regression"

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
