"""Every ```python block in docs/*.md and README.md runs (blocks of one page share a namespace, in order),
so the documentation cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _pages_with_code() -> list[Path]:
    return [p for p in PAGES if BLOCK.search(p.read_text(encoding="utf-8"))]


DATA = ROOT.parent / "shared" / "data"
# files the pages refer to, provided in the working directory of the blocks (from the shared data)
FIXTURES = {
    "neural-networks.md": {"model.onnx": "vnncomp/test_nano.onnx", "prop.vnnlib": "vnncomp/test_nano.vnnlib"},
    "sdp-certificates.md": {"truss1.dat-s": "sdplib/truss1.dat-s"},
}


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: p.name)
def test_code_blocks_run(page, tmp_path, monkeypatch, capsys):
    """Blocks fenced ```python run; signatures use ```text and cluster-only snippets ```py."""
    for name, src in FIXTURES.get(page.name, {}).items():
        if not (DATA / src).exists():
            pytest.skip(f"{page.name} needs the shared data file {src}")
        (tmp_path / name).write_bytes((DATA / src).read_bytes())
    monkeypatch.chdir(tmp_path)  # blocks may write files (certificates)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
        try:
            exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as e:  # pragma: no cover - the message is the point
            pytest.fail(f"{page.name}, python block {i} failed: {type(e).__name__}: {e}")
