"""Every malformed descriptor in tests/corpus/invalid is refused the way users are promised.

For each case, `opgen sync service.yaml` must exit 2 without a traceback, print each expected
problem as `service.yaml:LINE:COL: ...` containing the expected phrase (all of them at once),
end with the `opgen: N problem(s); nothing was written.` summary, and write nothing.

A case states its expectations in `# expect: LINE:COL: phrase` lines: in the file itself, or in
a sidecar NN-name.expect beside it when the file cannot carry a comment (empty, not UTF-8, binary).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus" / "invalid"
CASES = sorted(CORPUS.glob("*.yaml"))
TEN_MB = 10 * 1024 * 1024
# Cases too big to commit, built by the test: name -> file content.
GENERATED = {
    "ten-megabytes-of-comments": b"apiVersion: opgen/v1\n" + b"# padding padding padding padding\n" * (TEN_MB // 34),
    "ten-megabytes-on-one-line": b"description: " + b"x" * TEN_MB,
    "ten-megabytes-of-random-bytes": bytes(random.Random(7).getrandbits(8) for _ in range(TEN_MB // 8)) * 8,
}
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)
SUMMARY = re.compile(r"opgen: \d+ problems?; nothing was written\.")


def expectations(case: Path) -> list[tuple[int, int, str]]:
    sidecar = case.with_suffix(".expect")
    text = (sidecar if sidecar.exists() else case).read_text(encoding="utf-8")
    found = [(int(line), int(col), phrase.strip()) for line, col, phrase in EXPECT.findall(text)]
    assert found, f"{case.name} states no '# expect: LINE:COL: phrase'"
    return found


def test_corpus_is_large_enough():
    assert len(CASES) + len(GENERATED) >= 100


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


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_a_ten_megabyte_descriptor_is_refused_unread(name: str, tmp_path: Path):
    descriptor = tmp_path / "service.yaml"
    descriptor.write_bytes(GENERATED[name])
    result = subprocess.run([sys.executable, "-m", "opgen", "sync", str(descriptor)],
                            cwd=tmp_path, capture_output=True, text=True, errors="replace", timeout=60)
    assert "Traceback" not in result.stderr and result.returncode == 2, result.stderr
    assert result.stderr.startswith("service.yaml:1:1: file is ") and "limited to 1,000,000" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["service.yaml"], "opgen wrote files"
