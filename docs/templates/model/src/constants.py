"""Model metadata and output paths for [MODEL_TITLE].

Template example: multinomial logistic regression ("softmax regression"). Replace the values
below with your model's; keep the names, the workflow and the tests read them.
"""

from pathlib import Path

# [MODEL_NAME]: lowercase identifier, stored in every checkpoint (evaluate.py refuses a checkpoint
# of another model) and used in plot titles.
MODEL_NAME = "softmax_regression"
YEAR_INTRODUCED = 1958  # [YEAR]
ORIGINAL_AUTHOR = "David R. Cox"  # [AUTHORS]
PAPER = (  # [PAPER]: authors, title, venue, year, as in the README
    "D. R. Cox, 'The Regression Analysis of Binary Sequences', Journal of the Royal Statistical "
    "Society, Series B 20(2), 215-242, 1958"
)

MODEL_DIR = Path(__file__).resolve().parents[1]
EXPERIMENTS_FILE = MODEL_DIR / "src" / "experiments.yaml"
OUTPUT_DIR = MODEL_DIR / "outputs"
MODELS_DIR = OUTPUT_DIR / "models"
LOGS_DIR = OUTPUT_DIR / "logs"
VISUALIZATIONS_DIR = OUTPUT_DIR / "visualizations"
