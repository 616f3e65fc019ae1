"""The name and paths of the graph convolutional network."""

from pathlib import Path

# Stored in every checkpoint (evaluate.py refuses another model's) and the registry's key.
MODEL_NAME = "gcn"

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
LOGS_DIR = MODEL_DIR / "outputs" / "logs"
VISUALIZATIONS_DIR = MODEL_DIR / "outputs" / "visualizations"

# Test accuracies of Kipf and Welling (2017), Table 2, in percent: GCN and label propagation
# (Zhu et al. 2003, as the paper ran it).
PAPER_GCN = {"cora": 81.5, "citeseer": 70.3}
PAPER_LABEL_PROPAGATION = {"cora": 68.0, "citeseer": 45.3}
# Numbers of layers of the over-smoothing study (depth_study.py): 1 is a linear model of A X.
DEPTHS = (1, 2, 4, 8, 16)
