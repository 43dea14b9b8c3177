"""Every malformed descriptor in tests/corpus/invalid is refused the way users are promised.

For each case, `opgen sync service.yaml` must exit 2 without a traceback, print each expected
problem as `service.yaml:LINE:COL: ...` containing the expected phrase (all of them at once),
end with the `opgen: N problem(s); nothing was written.` summary, and write nothing.

A case states its expectations in `# expect: LINE:COL: phrase` lines: in the file itself, or in
a sidecar NN-name.expect beside it when the file cannot carry a comment (empty, not UTF-8, binary).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus" / "invalid"
CASES = sorted(CORPUS.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)
SUMMARY = re.compile(r"opgen: \d+ problems?; nothing was written\.")


def expectations(case: Path) -> list[tuple[int, int, str]]:
    sidecar = case.with_suffix(".expect")
    text = (sidecar if sidecar.exists() else case).read_text(encoding="utf-8")
    found = [(int(line), int(col), phrase.strip()) for line, col, phrase in EXPECT.findall(text)]
    assert found, f"{case.name} states no '# expect: LINE:COL: phrase'"
    return found


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_invalid_descriptor_is_reported(case: Path, tmp_path: Path):
    descriptor = tmp_path / "service.yaml"
    shutil.copyfile(case, descriptor)

    result = subprocess.run(
        [sys.executable, "-m", "opgen", "sync", str(descriptor)],
        cwd=tmp_path, capture_output=True, text=True, errors="replace", timeout=60,
    )

    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    assert result.returncode == 2, stderr
    lines = stderr.splitlines()
    for line, col, phrase in expectations(case):
        prefix = f"service.yaml:{line}:{col}:"
        assert any(l.startswith(prefix) and phrase.lower() in l.lower() for l in lines), (
            f"expected a line starting {prefix!r} containing {phrase!r}; stderr was:\n{stderr}"
        )
    assert lines and SUMMARY.fullmatch(lines[-1]), stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["service.yaml"], "opgen wrote files"
