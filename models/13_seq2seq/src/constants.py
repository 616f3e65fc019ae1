"""The name and paths of the sequence-to-sequence model."""

from pathlib import Path

# Stored in every checkpoint (evaluate.py refuses another model's) and the registry's key.
MODEL_NAME = "seq2seq"

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
