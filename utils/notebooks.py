"""Executing the models' analysis notebooks: with parameters, offline, and checked for size.

Each notebook's first code cell, tagged ``parameters``, assigns its parameters (which checkpoints
it opens, the data directory, where figures go). :func:`execute_notebook` runs a notebook in a
fresh Python kernel (nbclient) after a cell that overrides some of them, in the way papermill
does: the smoke test passes checkpoints it trained in a temporary folder, and
``docs/run_notebooks.py`` passes nothing and saves the executed notebook for git.

The kernel never reaches the network: wandb is disabled in its environment, and it inherits the
calling process's thread count and data directory.
"""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path
from typing import Any

from utils.exceptions import AIFromScratchError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
MAX_NOTEBOOK_BYTES = 1_000_000  # an executed notebook in git stays under this
KERNEL_ENVIRONMENT = {"WANDB_MODE": "disabled", "MPLBACKEND": "Agg"}


class NotebookError(AIFromScratchError):
    """A notebook that cannot be read, lacks its parameters cell, or fails when executed."""


def read_notebook(path: str | Path) -> Any:
    """The notebook at ``path`` as an nbformat node (version 4)."""
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as err:
        raise NotebookError(f"{path}: not a readable notebook ({err})") from err


def parameters_cell(nb: Any, path: str | Path = "notebook") -> Any:
    """The code cell tagged ``parameters`` (exactly one, and it only assigns constants)."""
    cells = [c for c in nb.cells if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1 or cells[0].cell_type != "code":
        raise NotebookError(f"{path}: needs exactly one code cell tagged '{PARAMETERS_TAG}'")
    return cells[0]


def notebook_parameters(nb: Any, path: str | Path = "notebook") -> dict[str, Any]:
    """The parameters a notebook assigns in its ``parameters`` cell, by name.

    Raises:
        NotebookError: The cell does anything but assign literals (``NAME = {...}``).
    """
    source = parameters_cell(nb, path).source
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            raise NotebookError(f"{path}: the parameters cell may only assign literals")
        target = node.targets[0]
        try:
            assert isinstance(target, ast.Name)
            values[target.id] = ast.literal_eval(node.value)
        except (AssertionError, ValueError) as err:
            raise NotebookError(f"{path}: the parameters cell may only assign literals") from err
    return values


def inject_parameters(nb: Any, overrides: dict[str, Any], path: str | Path = "notebook") -> Any:
    """Insert a cell after the parameters cell that assigns ``overrides`` (by repr).

    Raises:
        NotebookError: An override names no parameter of the notebook.
    """
    import nbformat

    known = notebook_parameters(nb, path)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise NotebookError(f"{path}: no such parameters {unknown}; it has {sorted(known)}")
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    if overrides:
        index = nb.cells.index(parameters_cell(nb, path)) + 1
        source = "\n".join(f"{name} = {value!r}" for name, value in overrides.items())
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
        nb.cells.insert(index, cell)
    return nb


def execute_notebook(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    timeout: int = 600,
    env: dict[str, str] | None = None,
) -> Any:
    """Run every cell of a notebook in a fresh kernel, in the notebook's folder.

    Args:
        path: The ``.ipynb`` file (read, not written: the caller saves the result if it wants).
        overrides: Parameters to set after the ``parameters`` cell.
        timeout: Seconds any one cell may take.
        env: Extra environment variables of the kernel (on top of this process's and
            ``KERNEL_ENVIRONMENT``).

    Returns:
        The executed notebook node, outputs filled in.

    Raises:
        NotebookError: A cell raised (its error is in the message) or timed out.
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    nb = inject_parameters(read_notebook(path), overrides or {}, path)
    previous = dict(os.environ)
    os.environ.update({**KERNEL_ENVIRONMENT, **(env or {})})  # the kernel inherits os.environ
    try:
        with tempfile.TemporaryDirectory(prefix="aifs-kernel-") as sockets:
            # Local sockets, not TCP: nothing listens on a network port, and no stray files
            # are left in the working directory.
            kernel = KernelManager(
                kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel")
            )
            client = NotebookClient(
                nb,
                km=kernel,
                timeout=timeout,
                record_timing=False,
                resources={"metadata": {"path": str(path.parent)}},
            )
            client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        raise NotebookError(f"{path}: {err}") from err
    finally:
        os.environ.clear()
        os.environ.update(previous)
    return nb


def execution_problems(nb: Any, path: str | Path = "notebook") -> list[str]:
    """Why a notebook is not fit to commit: unexecuted or failed cells, injected parameters,
    or more than ``MAX_NOTEBOOK_BYTES`` (an empty list when it is fine)."""
    import nbformat

    problems = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
            problems.append(f"{path}: cell {number} holds injected parameters")
        if cell.source.strip() and cell.get("execution_count") is None:
            problems.append(f"{path}: cell {number} was not executed")
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            problems.append(f"{path}: cell {number} ended in an error")
    size = len(nbformat.writes(nb).encode("utf-8"))
    if size > MAX_NOTEBOOK_BYTES:
        problems.append(f"{path}: {size} bytes, more than {MAX_NOTEBOOK_BYTES}")
    return problems
