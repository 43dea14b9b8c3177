"""Placeholder: filled in by the artifacts issue."""

from __future__ import annotations

from opgen.render import Artifact, RenderContext


def render(context: RenderContext) -> list[Artifact]:
    return []
