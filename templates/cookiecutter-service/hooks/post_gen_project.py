"""Create service.yaml and ops/ with opgen itself: the code behind `opgen new-service` and `opgen sync`.

Cookiecutter has created NAME/ with a placeholder; opgen never writes into an existing folder, so
the placeholder folder goes and `opgen.scaffold.create_service` creates NAME/service.yaml and
NAME/ops/ from the same parent, as `opgen new-service NAME --no-input` does.
"""

import json
import os
import shutil
import sys
from pathlib import Path

try:
    from opgen.errors import DescriptorError
    from opgen.scaffold import answers_from_text, create_service, without_machine_state
except ImportError:
    sys.exit("opgen is not installed in the Python that runs cookiecutter (pip install opgen)")

PLACEHOLDER = "README.md"

# --- answers: identical in both hooks (tests/test_cookiecutter.py checks) ---
ANSWERS = json.loads({{ cookiecutter | tojson | tojson }})  # a JSON string literal is a Python one
# --- end of answers ---


def main() -> int:
    project = Path.cwd()
    leftovers = sorted(p.name for p in project.iterdir() if p.name != PLACEHOLDER)
    if leftovers:
        print(f"{project}: unexpected files from the template: {', '.join(leftovers)}", file=sys.stderr)
        return 1
    os.chdir(project.parent)  # the same relative paths as `opgen new-service` run from the parent
    shutil.rmtree(project)
    try:
        # Nothing machine-specific stays: cruft update diffs two renders of this template.
        created = without_machine_state(create_service(answers_from_text(ANSWERS), Path(".")))
    except BaseException as error:
        project.mkdir(exist_ok=True)  # cookiecutter removes the project folder after a failed hook
        if not isinstance(error, DescriptorError):
            raise
        print(error, file=sys.stderr)
        count = len(error.problems)
        print(f"opgen: {count} problem{'s' if count != 1 else ''}; nothing was created.", file=sys.stderr)
        return 1
    descriptor = created.folder / "service.yaml"
    print(f"created {descriptor}")
    for item in created.loaded:
        for warning in item.warnings + item.graph_warnings:
            print(f"{warning.position}: warning: {warning.message}", file=sys.stderr)
    for out_dir, change in created.report.changes:
        print(f"created {out_dir / change.path}")
    print(f"Next: edit {descriptor}, then run `opgen sync {created.folder}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
