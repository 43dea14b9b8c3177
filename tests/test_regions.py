"""Keep-regions: human content inside marked regions survives regeneration and is not a conflict."""

from pathlib import Path

import pytest

from opgen.render import Artifact
from opgen.sync import plan as p
from opgen.sync.manifest import Entry, Manifest, content_hash
from opgen.sync.regions import blank, fill, regions

PAGE_V1 = "# Alert\n\nStep 1.\n\n<!-- opgen:keep notes -->\n<!-- opgen:end -->\n"
PAGE_V2 = "# Alert\n\nStep 1.\nStep 2.\n\n<!-- opgen:keep notes -->\n<!-- opgen:end -->\n"
NOTES = "War story: the 2026-03 outage was the connection pool.\n"


def with_notes(text: str) -> str:
    return fill(text, {"notes": NOTES}, "page.md")[0]


def test_regions_are_read_filled_and_blanked_in_markdown_and_python():
    stub = "import os\n# opgen:keep imports\n# opgen:end\nx = 1\n"
    filled, leftover = fill(stub, {"imports": "import json\n"}, "t.py")
    assert filled == "import os\n# opgen:keep imports\nimport json\n# opgen:end\nx = 1\n" and leftover == {}
    assert regions(filled, "t.py") == {"imports": "import json\n"}
    assert blank(with_notes(PAGE_V1), "page.md") == PAGE_V1
    assert fill(PAGE_V1, {"gone": "keep me\n"}, "page.md")[1] == {"gone": "keep me\n"}


def test_markers_count_only_in_the_files_own_syntax_at_column_0_and_outside_fenced_code():
    page = ("# Alert\n```promql\n<!-- opgen:keep notes -->\nsum(x)\n<!-- opgen:end -->\n```\n"
            "# opgen:keep notes\n  <!-- opgen:keep notes -->\n~~~~\n<!-- opgen:keep notes -->\n~~~\n~~~~\n"
            "<!-- opgen:keep notes -->\n```\n<!-- opgen:end -->\n")
    assert regions(page, "page.md") == {"notes": "```\n"}  # inside a region only the end marker counts
    assert regions("# opgen:keep x\n1\n# opgen:end\n", "page.md") == {}
    assert regions("<!-- opgen:keep x -->\n1\n<!-- opgen:end -->\n", "t.py") == {}
    assert regions("# opgen:keep x\n1\n# opgen:end\n", "t.yml") == {}  # rules and other files have no regions


@pytest.mark.parametrize("path", ["x/telemetry.go", "x_telemetry.js"])
def test_regions_are_read_filled_and_blanked_in_go_and_javascript(path):
    """The generated Go and Node.js stubs mark their regions with // (column 0, alone on the line)."""
    stub = "package x\n\n// opgen:keep custom\n// opgen:end\n"
    filled, leftover = fill(stub, {"custom": "func Mine() {}\n"}, path)
    assert filled == "package x\n\n// opgen:keep custom\nfunc Mine() {}\n// opgen:end\n" and leftover == {}
    assert regions(filled, path) == {"custom": "func Mine() {}\n"}
    assert blank(filled, path) == stub
    assert regions(filled, "x.md") == {}, "// marks regions only where // is the comment syntax"


def plan_one(tmp_path: Path, on_disk: str, written_by_opgen: str, new: str) -> p.FileChange:
    (tmp_path / "page.md").write_text(on_disk)
    manifest = Manifest({"page.md": Entry("svc", content_hash(written_by_opgen, "page.md"))})
    (change,) = p.plan_output(tmp_path, {"svc": [Artifact("page.md", new)]}, manifest)
    return change


def test_notes_are_carried_into_the_new_version_without_a_conflict(tmp_path):
    change = plan_one(tmp_path, on_disk=with_notes(PAGE_V1), written_by_opgen=PAGE_V1, new=PAGE_V2)
    assert change.action == p.UPDATE
    assert change.new_text == with_notes(PAGE_V2)


def test_notes_alone_leave_the_file_unchanged(tmp_path):
    change = plan_one(tmp_path, on_disk=with_notes(PAGE_V1), written_by_opgen=PAGE_V1, new=PAGE_V1)
    assert change.action == p.UNCHANGED


def test_an_edit_outside_the_regions_is_still_a_conflict(tmp_path):
    edited = with_notes(PAGE_V1).replace("Step 1.", "Step 1, but check the pool first.")
    change = plan_one(tmp_path, on_disk=edited, written_by_opgen=PAGE_V1, new=PAGE_V2)
    assert change.action == p.CONFLICT


def test_notes_whose_region_disappeared_go_to_the_orphans(tmp_path):
    without_region = "# Alert\n\nStep 1.\nStep 2.\n"
    change = plan_one(tmp_path, on_disk=with_notes(PAGE_V1), written_by_opgen=PAGE_V1, new=without_region)
    assert change.action == p.UPDATE and change.orphans == {"notes": NOTES}


# --- the parser agrees with a plain reading of the documented syntax ----------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from opgen.sync import regions as r  # noqa: E402

LINES = st.sampled_from([
    "<!-- opgen:keep notes -->", "<!-- opgen:keep other -->", "<!-- opgen:end -->", "# opgen:keep imports",
    "# opgen:end", "  <!-- opgen:keep notes -->", "<!--opgen:end-->", "text opgen:keep notes", "opgen:endless",
    "<!-- opgen:keep bad name! -->", "", "plain", "```", "````", "~~~", "``` promql", "   ```", "    ```", " ", "<!-- opgen:keep notes --> trailing",
    "x = 1", "// opgen:keep notes", "// opgen:end", "x := 1 // opgen:end",
])


def plain_reading(text: str) -> dict[str, str]:
    """The documented syntax read line by line, as a person would: outside regions, a line that
    opens a fence (three or more backticks or tildes, up to three spaces in) starts code until a
    line of at least as many of the same character; a start marker is the exact line; inside a
    region only the exact end line counts."""
    found, name, content, fence = {}, None, [], None
    for line in text.split("\n"):
        bare = line.rstrip(" \t\r")
        if name is not None:
            if bare == "<!-- opgen:end -->":
                found.setdefault(name, "\n".join(content) + "\n" if content else "")
                name = None
            else:
                content.append(line)
            continue
        stripped = line[len(line) - len(line.lstrip(" ")):] if len(line) - len(line.lstrip(" ")) <= 3 else None
        if fence is not None:
            if stripped is not None and stripped.rstrip(" \t\r") and set(stripped.rstrip(" \t\r")) == {fence[0]} \
                    and len(stripped.rstrip(" \t\r")) >= fence[1]:
                fence = None
            continue
        if stripped is not None and stripped[:3] in ("```", "~~~"):
            run = len(stripped) - len(stripped.lstrip(stripped[0]))
            if not (stripped[0] == "`" and "`" in stripped[run:]):
                fence = (stripped[0], run)
                continue
        opening = bare.removeprefix("<!-- opgen:keep ").removesuffix(" -->")
        if bare.startswith("<!-- opgen:keep ") and bare.endswith(" -->") and opening and all(
                ch.isalnum() or ch in "_.-" for ch in opening):
            name, content = opening, []
    return found


@settings(max_examples=400, deadline=None)
@given(st.lists(LINES, max_size=14), st.booleans())
def test_regions_are_what_a_plain_reading_of_the_syntax_finds(lines, final_newline):
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    assert r.regions(text, "page.md") == plain_reading(text)
