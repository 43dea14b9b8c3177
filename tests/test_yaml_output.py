"""The fast YAML emitter writes exactly what ruamel's round-trip dumper writes, reads back as the
same data, takes the fast path for every document opgen renders, and its rule files pass promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from conftest import EXAMPLES, TEST_DESCRIPTORS, is_stat_cache
from opgen.render import RenderContext, render_all
from opgen.render import yaml_output
from opgen.sync.run import descriptor_label, load_services

# Text that exercises every scalar style: indicators, quotes, colons, hashes, numbers-as-text,
# booleans-as-text, control and non-ASCII characters, line breaks.
SCALAR_TEXT = st.text(
    alphabet=st.sampled_from(list("ab_/-:#?'\" {}[],&*!|>%@`~=<.+0123456\\$()\t\n\x85é中\u2028")) | st.characters(),
    max_size=12,
) | st.sampled_from(["true", "No", "null", "~", "1e3", "0x1f", "2024-01-01", "- a", "a: b", "a #b", "---", "...", ""])
KEYS = st.from_regex(r"[a-z_][a-z0-9_.\-/]{0,10}", fullmatch=True) | SCALAR_TEXT
LEAVES = SCALAR_TEXT | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
DATA = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=25)


def as_read_back(value):
    """What the data reads back as: opgen writes multi-line strings as `|` blocks, which end in a newline."""
    if isinstance(value, dict):
        return {k: as_read_back(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_read_back(v) for v in value]
    if isinstance(value, str) and "\n" in value and not value.endswith("\n") and yaml_output._LITERAL_BLOCK_TEXT.fullmatch(value):
        return value + "\n"
    return value


def load(text: str):
    return YAML(typ="safe", pure=True).load(text)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DATA, min_size=1, max_size=5))
def test_fast_emitter_writes_ruamels_bytes_or_steps_aside(data):
    try:
        fast = yaml_output._fast_dump(data)
    except yaml_output._Unsupported:
        return
    assert fast == yaml_output._ruamel_dump(data)
    assert load(fast) == as_read_back(data)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DATA, min_size=1, max_size=5))
def test_every_document_reads_back_as_written_whichever_path_writes_it(data):
    """The fallback too: a `|` block holding a CR, NEL or line separator reads back as other lines (it
    broke the OpenSLO file of a description with a lone CR)."""
    assert load(yaml_output.dump_yaml(data)) == as_read_back(data)


@pytest.mark.parametrize("text", ["x\ry\nz\n", "a\r\nb", "x\x85y\nz", "x\u2028y\nz\n", "x\u2029\ny", "\x85", "x\u2028y", "\x1f\n"])
def test_text_with_other_line_breaks_is_escaped_not_a_literal_block(text):
    assert load(yaml_output.dump_yaml({"description": text, "items": [{"description": text}]})) == {
        "description": text, "items": [{"description": text}]}


def rendered_yaml_documents() -> list:
    """Every document the renderers hand to dump_yaml, for the test descriptors and the example."""
    documents = []
    original = yaml_output._fast_dump

    def recording(data):
        documents.append(data)
        return original(data)

    yaml_output._fast_dump = recording
    try:
        for descriptor in sorted(TEST_DESCRIPTORS.glob("*.yaml")) + [EXAMPLES / "checkout" / "service.yaml"]:
            for item in load_services([descriptor], reuse=False):
                render_all(RenderContext(item.service, descriptor_label(item.descriptor, item.out_dir)))
    finally:
        yaml_output._fast_dump = original
    return documents


def test_every_rendered_document_takes_the_fast_path_with_identical_bytes():
    documents = rendered_yaml_documents()
    assert len(documents) > 50
    for data in documents:
        assert yaml_output._fast_dump(data) == yaml_output._ruamel_dump(data)  # raises if it stepped aside


HOSTILE = ['a: b', "it's", 'say "hi"', "#1", "- x", "50%", "true", "12", "", " padded ", "tab\there", "é中", "a\nb",
           "{{ $value }}", "line one\nline two\n", "x #y", "@team", "*star", "`tick`"]


def test_rule_file_with_hostile_annotations_passes_promtool(tmp_path: Path, promtool):
    rules = [{"alert": f"Hostile{i}", "expr": 'vector(1) > 0', "for": "5m",
              "labels": {"severity": "ticket", "note": text},
              "annotations": {"summary": text, "description": text}} for i, text in enumerate(HOSTILE)]
    data = {"groups": [{"name": "hostile", "rules": rules}]}
    path = tmp_path / "hostile.rules.yml"
    path.write_text(yaml_output.dump_yaml(data, "# header\n"))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load(path.read_text()) == as_read_back(data)


def test_template_bytecode_cache_never_changes_output(tmp_path: Path):
    """Templates compiled once are reused by later processes (render speed); cold, warm, corrupt
    and disabled caches give the same files."""
    import os
    import shutil
    import sys

    cache = tmp_path / "cache"

    def sync(name: str, cache_dir: str) -> dict[str, bytes]:
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(EXAMPLES / "checkout" / "service.yaml", folder / "service.yaml")
        env = {**os.environ, "OPGEN_CACHE_DIR": cache_dir}
        result = subprocess.run([sys.executable, "-m", "opgen", "sync", str(folder)], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        ops = folder / "ops"
        return {p.relative_to(ops).as_posix(): p.read_bytes() for p in sorted(ops.rglob("*")) if p.is_file() and p.name != "lock" and not is_stat_cache(p)}

    cold = sync("cold", str(cache))
    compiled = list(cache.rglob("*.cache"))
    assert compiled, "no template was cached"
    warm = sync("warm", str(cache))
    from jinja2.bccache import bc_magic

    for path in compiled:  # Jinja2 itself raises on a checksum that does not unpickle
        path.write_bytes(bc_magic + b"\x80\x04\x95garbage")
    corrupt = sync("corrupt", str(cache))
    off = sync("off", "")
    assert cold == warm == corrupt == off
    assert any(name.endswith(".md") for name in cold)
