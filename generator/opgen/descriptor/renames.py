"""SLO renames that would reset history: the `slo` label is an SLO's identity in every recorded
series, so a new name starts its long windows and budget from zero unless `previous_names`
carries the old one. The manifest of the last sync says which SLO names the service had."""

from __future__ import annotations

from pathlib import Path

from opgen.descriptor.model import Service
from opgen.descriptor.source import read_yaml
from opgen.errors import DescriptorError, Problem


def rename_warnings(service: Service, descriptor: Path, shown: str, synced_slos: tuple[str, ...]) -> list[Problem]:
    """A warning at each SLO that is new since the last sync while an SLO of then is gone and no
    SLO names it in previous_names: likely a rename, and its history would start from zero."""
    carried = {name for slo in service.slos for name in slo.names}
    gone = [name for name in synced_slos if name not in carried]
    new = [(index, slo) for index, slo in enumerate(service.slos) if slo.name not in synced_slos and not slo.previous_names]
    if not gone or not new:
        return []
    try:
        source = read_yaml(descriptor, shown)
    except DescriptorError:
        return []
    listed = ", ".join(gone)
    return [Problem(source.position(("spec", "slos", index, "name")),
                    f"SLO {slo.name!r} is new, and {listed} {'is' if len(gone) == 1 else 'are'} gone since the last sync. "
                    f"If it is a rename, add previous_names: [{listed}] to it: its recorded history and the {slo.window} "
                    f"budget would otherwise start from zero")
            for index, slo in new]
