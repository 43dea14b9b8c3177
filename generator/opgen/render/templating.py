"""Jinja2 for text outputs (Markdown, HCL, Python): strict, with one escape filter per language.

Structured outputs (YAML, JSON) never come through here: they are data handed to a serializer.
Templates must escape every descriptor value with the filter of their language:
`md` (Markdown text), `md_code` (inside `inline code`), `hcl` (an HCL string literal),
`hcl_comment`, `py` (a Python literal), `py_comment`, `html` (HTML text and attribute values).
"""

from __future__ import annotations

import re
from functools import cache

_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")  # emphasis, code, links and images, table cells, strikethrough
_MD_BLOCK_START = re.compile(r"^([#>+=-]|\d+[.)])")  # would start a heading, quote, list or rule


def md(value: object) -> str:
    """Plain text safe inside a Markdown paragraph or table cell: no markup, no HTML, one line.
    Escapes only what could form markup, so `orders-db` stays readable in the raw file."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_INLINE.sub(r"\\\1", text)
    return _MD_BLOCK_START.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], text)


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def md_code(value: object) -> str:
    """Text for inside backticks: a code span cannot hold its own delimiter, so use a longer one."""
    text = " ".join(str(value).split())
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fenced(code: str, language: str) -> str:
    """A fenced code block whose fence is longer than any run of backticks in `code`, so no line closes it."""
    code = code.rstrip("\n")
    fence = "`" * max(3, _longest_backtick_run(code) + 1)
    return f"{fence}{language}\n{code}\n{fence}"


def md_path_target(path: str) -> str:
    """A relative link destination: percent-encoded, so spaces and parentheses cannot end it."""
    from urllib.parse import quote

    return quote(path, safe="/")


def md_url_target(url: str) -> str:
    """An absolute URL as a link destination: what could end the link is percent-encoded."""
    from urllib.parse import quote

    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


def hcl(value: object) -> str:
    """A quoted HCL string: escapes quotes and backslashes, and template sequences ${ and %{."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + text.replace("${", "$${").replace("%{", "%%{") + '"'


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: object) -> str:
    """For comments (HCL #, Python #): one line without control characters, so text cannot end the comment."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def py(value: object) -> str:
    """A Python literal of a string, number, bool or None."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return repr(str(value))


def html(value: object) -> str:
    """Text safe in HTML (and SVG) content and in double- or single-quoted attribute values."""
    import html as stdlib_html

    return stdlib_html.escape(str(value), quote=True)


def _bytecode_cache(environment_kind: str):
    """Templates compiled by an earlier run, kept per user: compiling them costs more than a whole
    service's render (about 0.5 s per process), and a pre-commit hook starts a process per commit.

    Output does not change: Jinja2 recompiles a template whose source checksum differs. The folder
    name hashes everything else the compiled code depends on (opgen, Jinja2 and Python versions, the
    environment's class and options). Only a folder of our own, closed to others, is used, since the
    cache is unpickled; `OPGEN_CACHE_DIR=` (empty) turns it off, and any I/O error just skips it."""
    import hashlib
    import os
    import sys

    import jinja2
    from jinja2.bccache import FileSystemBytecodeCache

    from opgen import __version__

    root = os.environ.get("OPGEN_CACHE_DIR")
    if root == "":
        return None
    if root is None:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "opgen")
    identity = repr((__version__, jinja2.__version__, sys.version_info[:3], environment_kind, _OPTIONS, sorted(_FILTERS)))
    folder = os.path.join(root, "jinja-" + hashlib.sha256(identity.encode()).hexdigest()[:16])
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
        if (hasattr(os, "getuid") and info.st_uid != os.getuid()) or info.st_mode & 0o022:
            return None
    except OSError:
        return None

    class QuietBytecodeCache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except Exception:  # unreadable or corrupt: compile as if there were no cache
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    return QuietBytecodeCache(folder)


_OPTIONS = dict(autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_FILTERS = dict(md=md, md_code=md_code, hcl=hcl, hcl_comment=one_line, py=py, py_comment=one_line, html=html)


@cache
def environment():
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    from opgen import resources

    # Descriptor and blueprint text is only ever data passed to these templates, never compiled
    # as a template itself; the sandbox is a second wall should a template ever misuse a value.
    env = SandboxedEnvironment(
        bytecode_cache=_bytecode_cache(SandboxedEnvironment.__name__),
        loader=jinja2.FileSystemLoader(str(resources.data_path("templates"))),
        undefined=jinja2.StrictUndefined,
        **_OPTIONS,  # autoescape off: each output language has its own filter, applied explicitly
    )
    env.filters.update(_FILTERS)
    return env


def render_template(name: str, **values) -> str:
    return environment().get_template(name).render(**values)
