"""Every "architecture section N" cited in code or docs is a section of docs/architecture.md."""

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# "architecture section 10", "architecture sections 6, 7, 9, 10", "architecture document,
# section 9.1", "architecture 3.1"
CITATION = re.compile(
    r"architecture(?: document)?,? (?:sections? )?(\d+(?:\.\d+)?(?:, \d+(?:\.\d+)?)*)"
)
HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\. ", re.MULTILINE)
SKIPPED = {".venv", "outputs", ".git", "node_modules"}


def _cited_files() -> list[Path]:
    files = [REPO_ROOT / "requirements-dev.txt"]
    for pattern in ("*.py", "*.md"):
        files += [p for p in REPO_ROOT.rglob(pattern) if not SKIPPED & set(p.parts)]
    return files


def test_every_cited_architecture_section_exists() -> None:
    sections = set(HEADING.findall((REPO_ROOT / "docs" / "architecture.md").read_text()))
    missing = []
    for path in _cited_files():
        for match in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            for number in match.group(1).split(", "):
                if number not in sections:
                    missing.append(f"{path.relative_to(REPO_ROOT)}: section {number}")
    assert {"3.1", "5.1", "9.1", "10"} <= sections, sorted(sections)
    assert not missing, f"cited but not in docs/architecture.md: {missing}"
