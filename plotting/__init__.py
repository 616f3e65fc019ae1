"""Shared plotting package: every figure the models save goes through here.

Each ``plot_*`` function validates its inputs, draws one figure, writes it as a PNG with
:func:`save_figure` (parent directories created, figure closed) and returns the path. Nothing
is ever shown on screen: the non-interactive Agg backend is selected below, before pyplot is
imported anywhere in the package, so plots work on headless CI machines and over SSH.

Which plot to make for which model, and what to look for in it: docs/visualization/Playbooks.md.
How to add a new plot: docs/visualization/Implementation_Guide.md.
"""

import matplotlib

matplotlib.use("Agg")

from plotting.audit import plot_gradient_audit  # noqa: E402
from plotting.classification import plot_confusion_matrix, plot_decision_boundary  # noqa: E402
from plotting.core import save_figure  # noqa: E402
from plotting.curves import draw_epoch_curves, plot_learning_curves  # noqa: E402
from plotting.detection import draw_detections, plot_detection_rows  # noqa: E402
from plotting.features import (  # noqa: E402
    plot_conv_filters,
    plot_feature_maps,
    plot_samples,
    plot_stage_features,
)
from plotting.gradcam import grad_cam, plot_grad_cam  # noqa: E402
from plotting.projection import (  # noqa: E402
    collect_features,
    plot_feature_projection,
    tsne_embedding,
)
from plotting.weights import plot_weights_as_images  # noqa: E402

__all__ = [
    "collect_features",
    "draw_detections",
    "draw_epoch_curves",
    "grad_cam",
    "plot_confusion_matrix",
    "plot_conv_filters",
    "plot_decision_boundary",
    "plot_detection_rows",
    "plot_feature_maps",
    "plot_feature_projection",
    "plot_grad_cam",
    "plot_gradient_audit",
    "plot_learning_curves",
    "plot_samples",
    "plot_stage_features",
    "plot_weights_as_images",
    "save_figure",
    "tsne_embedding",
]
