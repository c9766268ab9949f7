"""A deterministic benchmark corpus: English prose from stdlib docstrings plus multilingual text.

The English part is every paragraph (20..1,500 characters, whitespace collapsed, doctest
blocks left out) of the docstrings of a fixed list of standard library modules: the module
docstring, then its public classes, their public methods, and its public functions. Paragraphs
are deduplicated and selected in the order of their SHA-256, so the same Python version always
yields the same corpus. ``lamina.models.reference.SENTENCES`` (40 short multilingual texts) are
mixed in the same way. Docstrings change between Python releases: the corpus is stable per
Python version, not across versions.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Iterator
from types import ModuleType

from lamina.models.reference import SENTENCES

MIN_CHARS = 20
MAX_CHARS = 1500

STDLIB_MODULES: tuple[str, ...] = (
    "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections",
    "concurrent.futures", "configparser", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "email", "enum", "fractions", "ftplib", "functools",
    "getopt", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "http.client",
    "http.cookies", "imaplib", "inspect", "ipaddress", "itertools", "json", "logging",
    "mailbox", "math", "mimetypes", "multiprocessing", "numbers", "operator", "optparse",
    "os", "pathlib", "pickle", "pprint", "queue", "random", "re", "secrets", "shlex",
    "shutil", "smtplib", "socket", "sqlite3", "statistics", "string", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "traceback",
    "typing", "unittest", "urllib.parse", "urllib.request", "uuid", "warnings", "weakref",
    "xml.dom.minidom", "zipfile",
)  # fmt: skip

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _docstrings(module: ModuleType) -> Iterator[str]:
    """The module's docstring, then its public classes (and their methods) and functions."""
    yield inspect.getdoc(module) or ""
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield inspect.getdoc(obj) or ""
        elif inspect.isclass(obj):
            yield inspect.getdoc(obj) or ""
            for member_name, member in sorted(vars(obj).items()):
                if not member_name.startswith("_") and inspect.isfunction(member):
                    yield inspect.getdoc(member) or ""


def _paragraphs(docstring: str) -> Iterator[str]:
    for block in _PARAGRAPH_BREAK.split(docstring):
        if block.lstrip().startswith(">>>"):
            continue  # doctest examples are code, not prose
        text = " ".join(block.split())
        if MIN_CHARS <= len(text) <= MAX_CHARS:
            yield text


def stdlib_paragraphs(modules: tuple[str, ...] = STDLIB_MODULES) -> list[str]:
    """Deduplicated docstring paragraphs of ``modules``, in first-seen order."""
    seen: dict[str, None] = {}
    for module_name in sorted(modules):
        module = importlib.import_module(module_name)
        for docstring in _docstrings(module):
            for paragraph in _paragraphs(docstring):
                seen.setdefault(paragraph, None)
    return list(seen)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bench_corpus(n: int = 2000) -> list[str]:
    """``n`` texts: all reference SENTENCES plus ``n - 40`` stdlib paragraphs, mixed by hash."""
    multilingual = list(dict.fromkeys(SENTENCES))
    wanted = n - len(multilingual)
    if wanted <= 0:
        raise ValueError(f"n must exceed the {len(multilingual)} reference sentences")
    pool = [p for p in stdlib_paragraphs() if p not in set(multilingual)]
    if len(pool) < wanted:
        raise ValueError(f"only {len(pool)} stdlib paragraphs available, {wanted} needed")
    english = sorted(pool, key=_digest)[:wanted]
    return sorted(english + multilingual, key=_digest)
