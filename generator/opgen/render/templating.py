"""Jinja2 for text outputs (Markdown, HCL, Python, Go, JavaScript): strict, with one escape filter per language.

Structured outputs (YAML, JSON) never come through here: they are data handed to a serializer.
Templates must escape every descriptor value with the filter of their language:
`md` (Markdown text), `md_code` (inside `inline code`), `hcl` (an HCL string literal),
`hcl_comment`, `py` (a Python literal), `py_comment`, `go` (a Go literal), `go_comment`, `js` (a
JavaScript literal), `js_comment`, `html` (HTML text and attribute values).
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
    """For comments (HCL and Python #, Go and JavaScript //): one line without control characters,
    so text cannot end the comment."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def py(value: object) -> str:
    """A Python literal of a string, number, bool or None."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    return repr(str(value))


def cache_root() -> str | None:
    """Where opgen may keep per-user caches: $OPGEN_CACHE_DIR, else $XDG_CACHE_HOME/opgen, else
    ~/.cache/opgen; none when OPGEN_CACHE_DIR is set empty, when the path is relative (it would be
    the working folder: a repository), or when HOME is unset or empty (it would be /.cache)."""
    import os

    root = os.environ.get("OPGEN_CACHE_DIR")
    if root is not None:
        return root if os.path.isabs(root) else None
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return os.path.join(xdg, "opgen") if os.path.isabs(xdg) else None
    home = os.environ.get("HOME")
    if not home or not os.path.isabs(home):
        return None
    return os.path.join(home, ".cache", "opgen")


def private_folder(path: str) -> bool:
    """Create `path` (mode 0700) if needed; whether it is a folder only its owner can change: not a
    symlink (lstat, so a link to a folder of the same user is refused), owned by this user, writable
    by nobody else; and its parent is this user's or root's and not open to others (unless sticky,
    like /tmp, where others cannot move our folder away)."""
    import os
    import stat

    if not hasattr(os, "getuid"):
        return False  # no owners to check (Windows): no cache
    try:
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o700, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        for folder, owners in ((parent, (os.getuid(), 0)), (path, (os.getuid(),))):
            info = os.lstat(folder)
            open_to_others = info.st_mode & 0o022 and not (folder == parent and info.st_mode & stat.S_ISVTX)
            if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid not in owners or open_to_others:
                return False
    except OSError:
        return False
    return True


_GO_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029]')


def go(value: object) -> str:
    """A Go interpreted string literal ("..."), or a bool or number as Go writes it: one line whatever
    the text holds, so it cannot end the string or form a line of its own."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + _GO_NEEDS_ESCAPE.sub(lambda m: _GO_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), str(value)) + '"'


def js(value: object) -> str:
    """A JavaScript string literal (JSON's, which JavaScript reads the same), or a bool or number:
    one line, with the two line separators JSON leaves raw escaped too."""
    import json

    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def html(value: object) -> str:
    """Text safe in HTML (and SVG) content and in double- or single-quoted attribute values."""
    import html as stdlib_html

    return stdlib_html.escape(str(value), quote=True)


def _bytecode_cache(environment_kind: str):
    """Templates compiled by an earlier run, kept per user: compiling them costs more than a whole
    service's render (0.5 s per process on a quiet machine), and a pre-commit hook starts a
    process per commit.

    Output does not change: Jinja2 recompiles a template whose source checksum differs. The folder
    name hashes everything else the compiled code depends on (opgen, Jinja2 and Python versions, the
    environment's class and options). The cache is unpickled, so it is used only in folders of our
    own that nobody else can change (`private_folder`); `OPGEN_CACHE_DIR=` (empty) turns it off, and
    any I/O error just skips it."""
    import hashlib
    import os
    import sys

    import jinja2
    from jinja2.bccache import FileSystemBytecodeCache

    from opgen import __version__

    root = cache_root()
    if root is None:
        return None
    identity = repr((__version__, jinja2.__version__, sys.version_info[:3], environment_kind, _OPTIONS, sorted(_FILTERS)))
    folder = os.path.join(root, "jinja-" + hashlib.sha256(identity.encode()).hexdigest()[:16])
    if not private_folder(root) or not private_folder(folder):
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
_FILTERS = dict(md=md, md_code=md_code, hcl=hcl, hcl_comment=one_line, py=py, py_comment=one_line,
                go=go, go_comment=one_line, js=js, js_comment=one_line, html=html)


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
