"""Train ADALINE through the shared engine.

    python src/train.py --experiment xor --visualize
    python src/train.py --experiment moons --set variant=batch batch_size=340
    python src/train.py --experiment fashion_mnist --data-dir /path/to/datasets --visualize

All arguments: python src/train.py --help (architecture section 10, plus --resume and --set).
The loop itself is engine/trainer.py; the delta rule is Adaline.train_step in model.py.
"""

import sys
from pathlib import Path

try:  # run as a script (train.py, evaluate.py, ...): a missing package or Ctrl-C
    # while torch loads is one message, not a traceback
    import numpy as np
    from config import AdalineConfig
    from constants import EXPERIMENTS_FILE, MODEL_DIR, MODEL_NAME
    from model import Adaline, create_criterion, create_model

    import plotting
    from data_utils import DatasetSplits
    from engine.workflow import ModelSpec, train_main
except (ModuleNotFoundError, KeyboardInterrupt) as err:
    if Path(sys.argv[0]).resolve().parent != Path(__file__).resolve().parent:
        raise  # imported by a test or a tool: the importer reports it
    if isinstance(err, KeyboardInterrupt):
        sys.stderr.write("interrupted (Ctrl-C) during start-up; nothing was written\n")
        sys.exit(130)
    sys.exit(
        f"{err} (python: {sys.executable}). This script needs the project's environment: "
        "run it with the repository's .venv/bin/python (../../.venv/bin/python from a model "
        "folder) or the model's own .venv/bin/python. Create it at the repository root with: "
        "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt -e . "
        '(README.md, "Using a model").'
    )


def visualize(model: Adaline, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """ADALINE's own plot: on images, each unit's weights drawn as a template."""
    shape = splits.input_shape
    if len(shape) != 3 or shape[0] != 1:
        return {}
    names = ["class 1 vs 0"] if model.weight.shape[0] == 1 else list(splits.class_names)
    path = plotting.plot_weights_as_images(
        np.asarray(model.weight),
        (shape[1], shape[2]),
        vis_dir / f"{prefix}_weights.png",
        titles=names,
        title=f"ADALINE weights on {splits.name} (red: pixel pushes the unit up)",
    )
    return {"weights": path}


SPEC = ModelSpec(
    name=MODEL_NAME,
    model_dir=MODEL_DIR,
    config_cls=AdalineConfig,
    experiments_file=EXPERIMENTS_FILE,
    create_model=create_model,
    create_criterion=create_criterion,
    visualize=visualize,
)


def main(argv: list[str] | None = None) -> int:
    return train_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
