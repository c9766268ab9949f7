"""A deterministic benchmark corpus: English prose from stdlib docstrings plus multilingual text.

The English part is every paragraph (20..1,500 characters, whitespace collapsed, doctest
blocks left out) of the docstrings of a fixed list of standard library modules: the module
docstring, then its public classes, their public methods, and its public functions. Paragraphs
are deduplicated and selected in the order of their SHA-256, so the same Python version always
yields the same corpus. ``lamina.models.reference.SENTENCES`` (40 short multilingual texts) are
mixed in the same way. Docstrings change between Python releases: the corpus is stable per
Python version, not across versions.

``job_texts`` stretches the same pool to any length for the batch-job benchmark (``job_line``
writes one JSONL input line).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
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


# --- batch jobs ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
JOB_MAX_CHARS = 1500


def job_texts(n: int) -> list[str]:
    """``n`` texts for a batch job, built from the same pool as ``bench_corpus`` (every stdlib
    paragraph plus the reference SENTENCES), varied so a long job is not one text list repeated.

    Round 0 is the pool once, in SHA-256 order. Every later round takes the pool in another
    SHA-256 order (of the round and the index) and varies each text by a hash-chosen kind: half
    are kept as they are, a quarter are cut to their first half of sentences, a quarter are
    joined with the next text of the round (when the two fit in 1,500 characters). Texts repeat
    (a 100,000-line job has about 28,000 distinct ones), which costs the model the same as
    distinct texts: nothing in lamina caches vectors. Deterministic for a given Python version.
    """
    multilingual = list(dict.fromkeys(SENTENCES))
    english = [p for p in stdlib_paragraphs() if p not in set(multilingual)]
    pool = sorted(english + multilingual, key=_digest)
    out: list[str] = []
    round_ = 0
    while len(out) < n:
        seed = round_
        order = sorted(
            range(len(pool)), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest()
        )
        for k, i in enumerate(order[: n - len(out)]):
            text = pool[i]
            if round_ > 0:
                kind = hashlib.sha256(f"kind {round_}:{i}".encode()).digest()[0] % 4
                if kind == 1:
                    sentences = _SENTENCE_END.split(text)
                    text = " ".join(sentences[: (len(sentences) + 1) // 2])
                elif kind == 2:
                    following = pool[order[(k + 1) % len(order)]]
                    if len(text) + 1 + len(following) <= JOB_MAX_CHARS:
                        text = f"{text} {following}"
            out.append(text)
        round_ += 1
    return out


def job_line(index: int, text: str) -> str:
    """One line of a JSONL job input: ``{"id": "doc-0000042", "text": ...}`` and a newline."""
    return json.dumps({"id": f"doc-{index:07d}", "text": text}, ensure_ascii=False) + "\n"
