"""The project's exception hierarchy (architecture document, section 9.1).

Every error a user can cause (a bad experiment name, a missing data file, a corrupt
checkpoint) is raised as one of these, so that the command-line entry points can print
one clear line and exit non-zero instead of a traceback.
"""


class AIFromScratchError(Exception):
    """Base exception for all project-specific errors."""


class ModelError(AIFromScratchError):
    """Model-specific errors (architecture, forward pass, shapes)."""


class DataError(AIFromScratchError):
    """Data loading, download, checksum and preprocessing errors."""


class ConfigError(AIFromScratchError):
    """Configuration validation errors (unknown keys, wrong types, bad values)."""


class TrainingError(AIFromScratchError):
    """Training loop and optimization errors (NaN/Inf loss or gradients)."""


class CheckpointError(AIFromScratchError):
    """A checkpoint that is missing, empty, truncated, unsafe or of another model."""


class OutputError(AIFromScratchError):
    """A run's outputs cannot be written (outputs/ not writable, a file where a folder must be)."""
