"""Keep-regions: human content inside marked regions survives regeneration and is not a conflict."""

from pathlib import Path

from opgen.render import Artifact
from opgen.sync import plan as p
from opgen.sync.manifest import Entry, Manifest, content_hash
from opgen.sync.regions import blank, fill, regions

PAGE_V1 = "# Alert\n\nStep 1.\n\n<!-- opgen:keep notes -->\n<!-- opgen:end -->\n"
PAGE_V2 = "# Alert\n\nStep 1.\nStep 2.\n\n<!-- opgen:keep notes -->\n<!-- opgen:end -->\n"
NOTES = "War story: the 2026-03 outage was the connection pool.\n"


def with_notes(text: str) -> str:
    return fill(text, {"notes": NOTES})[0]


def test_regions_are_read_filled_and_blanked_in_markdown_and_python():
    stub = "import os\n# opgen:keep imports\n# opgen:end\nx = 1\n"
    filled, leftover = fill(stub, {"imports": "import json\n"})
    assert filled == "import os\n# opgen:keep imports\nimport json\n# opgen:end\nx = 1\n" and leftover == {}
    assert regions(filled) == {"imports": "import json\n"}
    assert blank(with_notes(PAGE_V1)) == PAGE_V1
    assert fill(PAGE_V1, {"gone": "keep me\n"})[1] == {"gone": "keep me\n"}


def plan_one(tmp_path: Path, on_disk: str, written_by_opgen: str, new: str) -> p.FileChange:
    (tmp_path / "page.md").write_text(on_disk)
    manifest = Manifest({"page.md": Entry("svc", content_hash(written_by_opgen))})
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
