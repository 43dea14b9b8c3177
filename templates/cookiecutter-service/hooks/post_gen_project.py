"""Create service.yaml and ops/ with opgen itself: the code behind `opgen new-service` and `opgen sync`.

Cookiecutter has created NAME/ with a placeholder; opgen never writes into an existing folder, so
the placeholder folder goes and `opgen.scaffold` creates NAME/service.yaml from the same parent, as
`opgen new-service NAME --no-input` does, then `opgen.sync.run` generates NAME/ops/.
"""

import os
import shutil
import sys
from pathlib import Path

try:
    from opgen.errors import DescriptorError, Position, Problem
    from opgen.scaffold import Answers, scaffold
    from opgen.sync.run import apply, load_services, plan
except ImportError:
    sys.exit("opgen is not installed in the Python that runs cookiecutter (pip install opgen)")

PLACEHOLDER = "README.md"

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
    project = Path.cwd()
    leftovers = sorted(p.name for p in project.iterdir() if p.name != PLACEHOLDER)
    if leftovers:
        print(f"{project}: unexpected files from the template: {', '.join(leftovers)}", file=sys.stderr)
        return 1
    os.chdir(project.parent)  # the same relative paths as `opgen new-service` run from the parent
    shutil.rmtree(project)
    try:
        folder = scaffold(answers(), Path("."))
        print(f"created {folder / 'service.yaml'}")
        report = plan(load_services([folder / "service.yaml"]))
        apply(report)
    except BaseException as error:
        project.mkdir(exist_ok=True)  # cookiecutter removes the project folder after a failed hook
        if not isinstance(error, DescriptorError):
            raise
        print(error, file=sys.stderr)
        count = len(error.problems)
        print(f"opgen: {count} problem{'s' if count != 1 else ''}; nothing was created.", file=sys.stderr)
        return 1
    for out_dir, change in report.changes:
        print(f"created {out_dir / change.path}")
    print(f"Next: edit {folder / 'service.yaml'}, then run `opgen sync {folder}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
