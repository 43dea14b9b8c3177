"""Check every answer with opgen's own checks before cookiecutter writes anything.

Runs `opgen.scaffold` (the code behind `opgen new-service`) in a throwaway folder: a bad answer
raises the same DescriptorError, whose text goes to stderr; exit 1 makes cookiecutter remove the
project folder, so nothing is left behind.
"""

import os
import sys
import tempfile
from pathlib import Path

try:
    from opgen.errors import DescriptorError, Position, Problem
    from opgen.scaffold import Answers, scaffold
except ImportError:
    sys.exit("opgen is not installed in the Python that runs cookiecutter (pip install opgen)")

# --- answers: identical in both hooks (tests/test_cookiecutter.py checks) ---
# The answers, rendered by cookiecutter as JSON literals (valid Python string literals).
NAME = {{ cookiecutter.name | tojson }}
BLUEPRINT = {{ cookiecutter.blueprint | tojson }}
TEAM = {{ cookiecutter.team | tojson }}
TIER = {{ cookiecutter.tier | tojson }}
PLATFORM = {{ cookiecutter.platform | tojson }}
NAMESPACE = {{ cookiecutter.namespace | tojson }}
BASELINE_RPS = {{ cookiecutter.baseline_rps | tojson }}
PEAK_RPS = {{ cookiecutter.peak_rps | tojson }}
OBJECTIVES = {{ cookiecutter.objectives | tojson }}


def answers() -> Answers:
    """Cookiecutter's text answers as opgen's Answers: empty means opgen's default, as an omitted flag."""
    return Answers(name=str(NAME), blueprint=str(BLUEPRINT), team=_text(TEAM), tier=_number(TIER, "--tier", int),
                   platform=_text(PLATFORM), namespace=_text(NAMESPACE), baseline_rps=_number(BASELINE_RPS, "--baseline-rps", float),
                   peak_rps=_number(PEAK_RPS, "--peak-rps", float), objectives=_objectives(str(OBJECTIVES)))


def _text(value) -> str | None:
    return str(value).strip() or None


def _number(value, flag: str, kind):
    text = str(value).strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise DescriptorError([Problem(Position(flag, 0, 0), f"{text!r} is not a valid {kind.__name__}")])


def _objectives(text: str) -> dict[str, float]:
    """"availability=99.9,latency=99" as {SLO: percent}, like repeated `--objective SLO=PERCENT`."""
    result = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        slo, _, value = item.partition("=")
        try:
            result[slo.strip()] = float(value)
        except ValueError:
            raise DescriptorError([Problem(Position("--objective", 0, 0), f"{item!r} is not SLO=PERCENT, e.g. availability=99.95")])
    return result
# --- end of answers ---


def main() -> int:
    here = Path.cwd()
    try:
        with tempfile.TemporaryDirectory(prefix="opgen-check-") as scratch:
            os.chdir(scratch)  # relative paths, so messages name NAME/service.yaml as opgen new-service does
            try:
                scaffold(answers(), Path("."))
            finally:
                os.chdir(here)
    except DescriptorError as error:
        print(error, file=sys.stderr)
        count = len(error.problems)
        print(f"opgen: {count} problem{'s' if count != 1 else ''}; nothing was created.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
