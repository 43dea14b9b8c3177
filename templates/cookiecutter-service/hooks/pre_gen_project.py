"""Check every answer with opgen's own checks before cookiecutter writes anything.

A bad answer raises the same DescriptorError `opgen new-service` raises, whose text goes to
stderr; exit 1 makes cookiecutter remove the project folder, so nothing is left behind.
"""

import json
import sys
from pathlib import Path

try:
    from opgen.errors import DescriptorError
    from opgen.scaffold import answers_from_text, check_answers
except ImportError:
    sys.exit("opgen is not installed in the Python that runs cookiecutter (pip install opgen)")

# --- answers: identical in both hooks (tests/test_cookiecutter.py checks) ---
ANSWERS = json.loads({{ cookiecutter | tojson | tojson }})  # a JSON string literal is a Python one
# --- end of answers ---


def main() -> int:
    project = Path.cwd()  # NAME/, which cookiecutter has just created
    try:
        check_answers(answers_from_text(ANSWERS), project.parent)
    except DescriptorError as error:
        print(error, file=sys.stderr)
        count = len(error.problems)
        print(f"opgen: {count} problem{'s' if count != 1 else ''}; nothing was created.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
