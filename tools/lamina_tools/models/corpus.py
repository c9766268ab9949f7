"""The retrieval corpus: the quality gate's texts and ``make bench``'s, one deterministic list.

Build-time only (it imports ``faker``, an ``export`` extra that never enters a Lambda image).
``retrieval_corpus(n)`` returns ``n`` texts (default 2,000) of four kinds, mixed by the
SHA-256 of each text:

- **reference**: the 40 ``lamina_tools.models.reference.SENTENCES`` (short sentences in English,
  Korean, Japanese, Chinese, German, French, Spanish, Russian, Arabic, Greek, Hindi; code,
  SQL, URLs, numbers, emoji, whitespace oddities);
- **intent**: up to 384 hand-written English support queries (``intent_corpus.txt``),
  at most a fifth of ``n``;
- **non-English** (``NON_ENGLISH_SHARE`` = 25% of ``n``): word-salad paragraphs from
  Faker's per-locale lorem providers, real vocabulary of each language in sentence form,
  in 20 locales and 11 scripts (Han simplified and traditional, Japanese kana/kanji,
  Hangul, Cyrillic, Arabic, Hebrew, Greek, Thai, Bengali, Latin with diacritics). Faker has
  no Korean lorem, so Korean texts are its ko_KR names, companies, jobs, addresses and
  catch phrases set into fixed Korean sentence templates. Lengths are drawn per text
  (seeded, log-uniform) from 20 to 600 characters, so some CJK texts exceed the 256-token limit;
- **stdlib**: English prose, the rest: paragraphs (20..1,500 characters, whitespace
  collapsed, doctest blocks left out) of the docstrings of a fixed list of standard library
  modules, deduplicated, chosen in SHA-256 order.

Deterministic for a given Python version (docstrings change between releases) and Faker
version (pinned in the ``export`` extra): every random draw comes from a ``random.Random``
or a Faker instance seeded from the locale's name.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import random
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from lamina_tools.models.reference import SENTENCES

DEFAULT_SIZE = 2000
NON_ENGLISH_SHARE = 0.25
INTENT_SHARE = 0.2
MIN_CHARS = 20
MAX_CHARS = 1500
INTENT_FILE = Path(__file__).with_name("intent_corpus.txt")

Source = Literal["reference", "intent", "non-english", "stdlib"]

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

# Faker locale -> weight in the non-English share (ko_KR: templates, see korean_texts).
LOCALES: tuple[tuple[str, int], ...] = (
    ("zh_CN", 10), ("zh_TW", 5), ("ja_JP", 10), ("ko_KR", 10),
    ("ru_RU", 8), ("uk_UA", 4), ("mk_MK", 2),
    ("ar_AA", 7), ("fa_IR", 3), ("he_IL", 3),
    ("el_GR", 6), ("th_TH", 3), ("bn_BD", 3),
    ("de_DE", 7), ("fr_FR", 7), ("es_ES", 7), ("it_IT", 4), ("pl_PL", 3),
    ("nl_NL", 2), ("cs_CZ", 2),
)  # fmt: skip
TEXT_CHARS = (20, 600)

_KOREAN_TEMPLATES = (
    "{name}님은 {company}에서 {job}(으)로 일하고 있습니다.",
    "{company}의 새 사무실 주소는 {address}입니다.",
    "{company}는 '{catch_phrase}'을(를) 올해의 목표로 정했습니다.",
    "{name} 고객님, {address}(으)로 주문하신 상품이 내일 도착합니다.",
    "{job} 채용 공고: {company}, 근무지 {address}.",
    "{name}님이 '{bs}'에 대해 질문을 남겼습니다.",
)

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class CorpusText:
    text: str
    source: Source
    language: str  # "en", a Faker locale such as "zh_CN", or "mixed" (reference SENTENCES)


# --- English: standard library docstrings and intent queries ----------------------------------


def _docstrings(module_name: str) -> Iterator[str]:
    """The module's docstring, then its public classes (and their methods) and functions.

    Read from the module's source file with ``ast``, never from the imported module: other
    libraries patch standard library modules when they are imported (transformers adds
    ``logging.Logger.warning_advice``, others replace module functions), so reading live
    objects made the corpus depend on what the process had imported before. A module with
    no Python source (``math``, ``itertools``) is read live; nothing patches those.
    """
    spec = importlib.util.find_spec(module_name)
    origin = spec.origin if spec is not None else None
    if origin is None or not origin.endswith(".py"):
        yield from _live_docstrings(importlib.import_module(module_name))
        return
    tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    yield ast.get_docstring(tree) or ""
    for node in _public_definitions(tree.body):
        yield ast.get_docstring(node) or ""
        if isinstance(node, ast.ClassDef):
            for member in _public_definitions(node.body):
                if not isinstance(member, ast.ClassDef):
                    yield ast.get_docstring(member) or ""


_Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _public_definitions(body: list[ast.stmt]) -> list[_Definition]:
    """Public functions and classes defined directly in ``body``, by name (then position)."""
    found = [
        node for node in body if isinstance(node, _Definition) and not node.name.startswith("_")
    ]
    return sorted(found, key=lambda node: (node.name, node.lineno))


def _live_docstrings(module: ModuleType) -> Iterator[str]:
    """A module without Python source: its docstring and its classes' (C types)."""
    yield inspect.getdoc(module) or ""
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isbuiltin(obj):
            yield inspect.cleandoc(obj.__doc__ or "")


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
    with warnings.catch_warnings():  # e.g. typing.io's deprecation, raised by reading it
        warnings.simplefilter("ignore", DeprecationWarning)
        for module_name in sorted(modules):
            for docstring in _docstrings(module_name):
                for paragraph in _paragraphs(docstring):
                    seen.setdefault(paragraph, None)
    return list(seen)


def intent_queries() -> list[str]:
    """The 384 hand-written English queries of the intent classifier's corpus, deduplicated."""
    lines = INTENT_FILE.read_text(encoding="utf-8").splitlines()
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


# --- non-English: Faker ----------------------------------------------------------------------


def _faker(locale: str) -> Any:
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(int.from_bytes(hashlib.sha256(locale.encode()).digest()[:8], "big"))
    return fake


def _lengths(locale: str, count: int) -> list[int]:
    """Per-text character budgets, log-uniform over TEXT_CHARS (short texts are common)."""
    rng = random.Random(f"lengths {locale}")
    low, high = TEXT_CHARS
    return [int(low * (high / low) ** rng.random()) for _ in range(count)]


def lorem_texts(locale: str, count: int) -> list[str]:
    """``count`` distinct texts from Faker's lorem provider for ``locale``, newlines kept."""
    fake = _faker(locale)
    out: dict[str, None] = {}
    for budget in _lengths(locale, count * 2):
        text = fake.text(max_nb_chars=max(budget, 5)).strip()
        out.setdefault(text, None)
        if len(out) == count:
            break
    return list(out)


def korean_texts(count: int) -> list[str]:
    """Korean sentences from ko_KR provider fields set into fixed templates (no ko lorem)."""
    fake = _faker("ko_KR")
    rng = random.Random("templates ko_KR")
    out: dict[str, None] = {}
    for budget in _lengths("ko_KR", count * 2):
        sentences: list[str] = []
        while not sentences or sum(len(s) + 1 for s in sentences) < budget:
            template = rng.choice(_KOREAN_TEMPLATES)
            sentences.append(
                template.format(
                    name=fake.name(),
                    company=fake.company(),
                    job=fake.job(),
                    address=fake.address(),
                    catch_phrase=fake.catch_phrase(),
                    bs=fake.bs(),
                )
            )
        out.setdefault(" ".join(sentences), None)
        if len(out) == count:
            break
    return list(out)


def _allocate(total: int, weights: tuple[tuple[str, int], ...]) -> dict[str, int]:
    """Split ``total`` by weight, largest remainders first (ties in table order)."""
    weight_sum = sum(w for _, w in weights)
    exact = {name: total * w / weight_sum for name, w in weights}
    counts = {name: int(share) for name, share in exact.items()}
    leftover = total - sum(counts.values())
    by_remainder = sorted(weights, key=lambda item: -(exact[item[0]] - counts[item[0]]))
    for name, _ in by_remainder[:leftover]:
        counts[name] += 1
    return counts


def non_english_texts(count: int) -> list[CorpusText]:
    """``count`` texts over LOCALES, by weight."""
    out: list[CorpusText] = []
    for locale, wanted in _allocate(count, LOCALES).items():
        texts = korean_texts(wanted) if locale == "ko_KR" else lorem_texts(locale, wanted)
        out.extend(CorpusText(text, "non-english", locale) for text in texts)
    return out


# --- the corpus ------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def corpus_entries(n: int = DEFAULT_SIZE) -> list[CorpusText]:
    """``n`` texts with where each came from; see the module docstring for the recipe."""
    reference = [CorpusText(text, "reference", "mixed") for text in dict.fromkeys(SENTENCES)]
    non_english = non_english_texts(round(n * NON_ENGLISH_SHARE))
    taken = {entry.text for entry in [*reference, *non_english]}
    intents = [q for q in intent_queries() if q not in taken][: int(n * INTENT_SHARE)]
    taken.update(intents)
    wanted = n - len(reference) - len(non_english) - len(intents)
    if wanted <= 0:
        raise ValueError(f"n={n} is too small for a corpus of every kind")
    pool = sorted((p for p in stdlib_paragraphs() if p not in taken), key=_digest)
    if len(pool) < wanted:
        raise ValueError(f"only {len(pool)} stdlib paragraphs available, {wanted} needed")
    entries = [
        *reference,
        *non_english,
        *(CorpusText(q, "intent", "en") for q in intents),
        *(CorpusText(p, "stdlib", "en") for p in pool[:wanted]),
    ]
    return sorted(entries, key=lambda entry: _digest(entry.text))


def retrieval_corpus(n: int = DEFAULT_SIZE) -> list[str]:
    """The gate's retrieval set and the benchmark's corpus: ``n`` distinct texts."""
    return [entry.text for entry in corpus_entries(n)]


def calibration_texts(count: int = 256, *, disjoint_from: int = DEFAULT_SIZE) -> list[str]:
    """``count`` texts made like the corpus but outside ``retrieval_corpus(disjoint_from)``.

    Quantization calibrates on these, so the gate never scores a variant on texts it was
    tuned on. Every source is prefix-stable (a larger corpus only adds texts), so the
    texts a larger corpus adds are new stdlib paragraphs and non-English texts.
    """
    taken = set(retrieval_corpus(disjoint_from))
    extra = [e.text for e in corpus_entries(disjoint_from + 4 * count) if e.text not in taken]
    if len(extra) < count:
        raise ValueError(f"only {len(extra)} calibration texts available, {count} needed")
    return extra[:count]
