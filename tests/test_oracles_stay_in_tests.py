"""The test-only oracles of requirements-dev.txt never reach the product code.

torchmetrics, torch_geometric, scikit-image and pycocotools check our hand-written Frechet
distance, GCN layer, adapted Rand error and mAP in tests. A model or a shared package that imported
them would teach the library instead of the idea, and would break in a model's own environment
(its requirements.txt does not carry them).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORACLES = {"torchmetrics", "torch_geometric", "skimage", "pycocotools"}
PRODUCT = [ROOT / d for d in ("data_utils", "engine", "plotting", "utils")] + sorted(
    (ROOT / "models").glob("*/src")
)


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("folder", PRODUCT, ids=lambda p: str(p.relative_to(ROOT)))
def test_product_code_imports_no_test_oracle(folder):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & ORACLES)
        for path in sorted(folder.rglob("*.py"))
        if imported_roots(path) & ORACLES
    }
    assert not offenders, f"test-only oracles imported by product code: {offenders}"


def test_the_scan_sees_an_oracle_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom torch_geometric.nn import GCNConv\nimport skimage.metrics\n")
    assert imported_roots(module) & ORACLES == {"torch_geometric", "skimage"}
