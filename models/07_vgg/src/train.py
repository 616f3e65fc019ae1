"""Train VGG through the shared engine.

    python src/train.py --experiment cifar10 --visualize
    python src/train.py --experiment cifar10 --set configuration=D
    python src/train.py --experiment fashion_mnist --set configuration=B batch_norm=false

All arguments: python src/train.py --help (architecture section 10, plus --resume and --set).
The loop itself is engine/trainer.py; the network is model.py. Depth against accuracy, with and
without batch normalisation, is depth_study.py.
"""

import sys

try:  # as a script, a missing package or Ctrl-C while torch loads is one message
    import analysis
    from config import VGGConfig
    from constants import EXPERIMENTS_FILE, MODEL_DIR, MODEL_NAME
    from model import create_criterion, create_model

    from engine.workflow import ModelSpec, train_main
except (ModuleNotFoundError, KeyboardInterrupt) as err:
    if __name__ != "__main__":  # imported (by another script or a test): it decides
        raise
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

SPEC = ModelSpec(
    name=MODEL_NAME,
    model_dir=MODEL_DIR,
    config_cls=VGGConfig,
    experiments_file=EXPERIMENTS_FILE,
    create_model=create_model,
    create_criterion=create_criterion,
    visualize=analysis.visualize,
)


def main(argv: list[str] | None = None) -> int:
    return train_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
