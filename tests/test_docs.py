"""The README and the user guide are executed: their examples cannot rot.

Blocks fenced ```python run; blocks fenced ```py are shown only, because they
need real CLIP weights, which the tests never download.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_examples_run(path):
    blocks = python_blocks(path)
    assert blocks, f"{path.name} has no python examples"
    namespace = {}
    for block in blocks:  # one namespace per file: later blocks build on earlier ones
        exec(compile(block, str(path), "exec"), namespace)
