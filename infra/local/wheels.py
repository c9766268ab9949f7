"""`make wheels`: the images' runtime wheels, downloaded on the host.

Inside a container build PyPI's TLS fails on this machine (the host trusts a CA that the
container does not), so the Dockerfile installs from the build context with ``--no-index``
and nothing is downloaded during the build; the same files work on any machine.

What it does:

Two sets of wheels, each with its own lock:

- every image's: ``[project] dependencies`` of ``pyproject.toml`` (plus Powertools'
  ``tracer`` extra that ``Tracing: Active`` needs), locked in ``functions/requirements.lock``
  (functions/Dockerfile's ``deps`` stage, the layers every target shares);
- the ``generic`` image's own (the ONNX function, which runs SQL query models): the ``sql``
  extra (DuckDB), locked in ``functions/requirements-sql.lock`` (the Dockerfile's ``sql``
  stage, copied into that target only). What the first lock already has is not repeated.

What it does:

1. Pins the roots of both sets to the versions the project venv has (``make install``
   installs the ``sql`` extra too): the versions the tests ran against.
2. ``pip download``s them and their dependencies, in one resolution, for the image's platform
   (CPython 3.13, manylinux x86_64) into ``build/wheels/``.
3. Walks the dependency graph from each set's roots through the wheels' own metadata, leaving
   out what the base image already has (boto3 and its dependencies: the AWS image ships them)
   and ``huggingface-hub``, which tokenizers declares but only its Rust ``from_pretrained``
   could use (it downloads from a model hub, which a Lambda image must never need), and
   deletes the wheels that are not reached.
4. Writes ``build/wheels/requirements.txt`` (every image) and ``requirements-sql.txt`` (the
   generic image's addition): every wheel to install, pinned.
5. Checks the wheels against the committed locks: every package, version and wheel sha256
   each set installs. The Dockerfile installs each lock with ``--require-hashes --no-deps``,
   so an image holds exactly the wheels they name, and a wheel that changed (on PyPI, on this
   disk) fails the build; so does any difference from either lock. A dependency change is a
   reviewed commit: ``--update-lock`` rewrites both locks from the wheels just downloaded.

Fails if torch, transformers or sentence-transformers would end up in the image.

Usage: ``python -m infra.local.wheels [--venv .venv] [--out build/wheels] [--update-lock]``
(``--lock`` and ``--sql-lock`` name other lock files).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "functions" / "requirements.lock"
# The generic image's own wheels: pyproject's SQL_EXTRA, minus what LOCK already installs.
SQL_EXTRA = "sql"
SQL_LOCK = ROOT / "functions" / "requirements-sql.lock"
PLATFORM_ARGS = [
    "--only-binary=:all:",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.13",
    "--implementation",
    "cp",
]
# Markers are evaluated for the image: CPython 3.13 on Linux x86_64.
IMAGE_ENV = {
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}
EXTRAS = {"aws-lambda-powertools": "tracer"}
# In every Lambda Python base image (the stand-in installs boto3 too).
BASE_IMAGE_PACKAGES = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
}
# (package, dependency) edges not followed: declared, never imported at run time.
SKIPPED_EDGES = {("tokenizers", "huggingface-hub")}
FORBIDDEN = {"torch", "transformers", "sentence-transformers"}
NOISE = "is ignored: it is neither a file nor a directory"  # this machine's pip config


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    path: Path
    requires: tuple[Requirement, ...]


def runtime_pins(venv: Path, extra: str | None = None) -> list[str]:
    """pyproject's runtime dependencies (``extra``: that optional-dependencies group
    instead), pinned to what ``venv`` has installed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    if extra is None:
        deps = project["dependencies"]
    elif extra in project.get("optional-dependencies", {}):
        deps = project["optional-dependencies"][extra]
    else:
        raise SystemExit(f"wheels: pyproject.toml has no optional-dependencies group {extra!r}")
    site = sorted((venv / "lib").glob("python3*/site-packages"))
    if not site:
        raise SystemExit(f"wheels: no venv at {venv}: run `make install` first")
    pins = []
    for dep in deps:
        req = Requirement(dep)
        name = canonicalize_name(req.name)
        found = list(metadata.distributions(name=req.name, path=[str(site[-1])]))
        if not found:
            raise SystemExit(f"wheels: {req.name} is not installed in {venv}: run `make install`")
        version = found[0].version
        if not req.specifier.contains(version, prereleases=True):
            raise SystemExit(f"wheels: {venv} has {req.name} {version}, pyproject wants {dep}")
        extras = sorted(set(req.extras) | ({EXTRAS[name]} if name in EXTRAS else set()))
        extra = f"[{','.join(extras)}]" if extras else ""  # pyproject's own (psycopg[binary])
        pins.append(f"{name}{extra}=={version}")
    return pins


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(meta_name).decode("utf-8"))
    requires = tuple(Requirement(r) for r in meta.get_all("Requires-Dist") or [])
    return Wheel(canonicalize_name(meta["Name"]), meta["Version"], path, requires)


def applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    marker: Marker = req.marker
    return any(marker.evaluate({**IMAGE_ENV, "extra": e}) for e in extras or {""})


def closure(wheels: dict[str, Wheel], roots: list[Requirement]) -> dict[str, Wheel]:
    """The wheels reached from ``roots``, skipping base-image packages and SKIPPED_EDGES."""
    reached: dict[str, Wheel] = {}
    todo: list[tuple[str, set[str]]] = [(canonicalize_name(r.name), set(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, frozenset(extras)) in seen or name in BASE_IMAGE_PACKAGES:
            continue
        seen.add((name, frozenset(extras)))
        if name not in wheels:
            raise SystemExit(f"wheels: {name} is required but pip downloaded no wheel for it")
        wheel = reached[name] = wheels[name]
        for req in wheel.requires:
            dep = canonicalize_name(req.name)
            if (name, dep) not in SKIPPED_EDGES and applies(req, extras):
                todo.append((dep, set(req.extras)))
    return reached


def wheel_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


MAIN_TITLE = "Every image's runtime wheels (functions/Dockerfile, stage `deps`)"
SQL_TITLE = (
    f"The generic image's own wheels: pyproject's `{SQL_EXTRA}` extra, less what\n"
    "requirements.lock installs (functions/Dockerfile, stage `sql`)"
)


def lock_text(keep: dict[str, Wheel], pins: list[str], title: str = MAIN_TITLE) -> str:
    """The hashed lock of ``keep``: pip's ``--require-hashes`` format, one wheel each."""
    lines = [
        *(f"# {line}" for line in f"{title}:".splitlines()),
        "# written by `python -m infra.local.wheels --update-lock`, reviewed and committed.",
        "# functions/Dockerfile installs exactly these (pip --require-hashes --no-deps",
        "# --no-index); `make wheels` fails if a download differs.",
        f"# Roots: {' '.join(pins)}",
    ]
    for wheel in sorted(keep.values(), key=lambda w: w.name):
        lines += [
            f"{wheel.name}=={wheel.version} \\",
            f"    --hash=sha256:{wheel_sha256(wheel.path)}",
        ]
    return "\n".join(lines) + "\n"


def locked(text: str) -> dict[str, tuple[str, str]]:
    """name -> (version, sha256) of a lock written by ``lock_text``."""
    found: dict[str, tuple[str, str]] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        spec, _, digest = entry.partition("--hash=sha256:")
        name, _, version = spec.strip().partition("==")
        found[canonicalize_name(name)] = (version, digest.strip())
    return found


def lock_mismatch(keep: dict[str, Wheel], lock: Path) -> str | None:
    """How ``keep`` differs from what the committed lock names, wheel for wheel; None if not."""
    if not lock.is_file():
        return f"wheels: no {lock}: run `python -m infra.local.wheels --update-lock`"
    want = locked(lock.read_text())
    have = {w.name: (w.version, wheel_sha256(w.path)) for w in keep.values()}
    if have == want:
        return None
    diff = sorted(
        f"{name}: lock {want.get(name, ('-', ''))[0]} {want.get(name, ('', '-'))[1][:12]}, "
        f"download {have.get(name, ('-', ''))[0]} {have.get(name, ('', '-'))[1][:12]}"
        for name in have.keys() | want.keys()
        if have.get(name) != want.get(name)
    )
    return f"wheels: the downloaded wheels differ from {lock}:\n  " + "\n  ".join(diff)


def check_lock(keep: dict[str, Wheel], lock: Path) -> None:
    """Fail unless ``keep`` is exactly what the committed lock names, wheel for wheel."""
    check_locks([(keep, lock)])


def check_locks(sets: list[tuple[dict[str, Wheel], Path]]) -> None:
    """Fail unless every ``(keep, lock)`` pair matches; the message names every mismatch."""
    problems = [p for keep, lock in sets if (p := lock_mismatch(keep, lock)) is not None]
    if problems:
        raise SystemExit(
            "\n".join(problems)
            + "\nReview the change, then `python -m infra.local.wheels --update-lock` and commit."
        )


def pins_text(keep: dict[str, Wheel], pins: list[str], what: str, left_out: set[str]) -> str:
    """``build/wheels/requirements*.txt``: ``keep`` pinned, one ``name==version`` a line."""
    lines = [
        "# Written by infra/local/wheels.py (`make wheels`): every package",
        f"# {what}, pinned.",
        f"# Roots: {' '.join(pins)}",
        f"# Left out: {', '.join(sorted(left_out))}",
        *(f"{w.name}=={w.version}" for w in sorted(keep.values(), key=lambda w: w.name)),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "wheels")
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--sql-lock", type=Path, default=SQL_LOCK)
    parser.add_argument(
        "--update-lock", action="store_true", help="rewrite both locks from this download"
    )
    args = parser.parse_args(argv)

    pins = runtime_pins(args.venv)
    sql_pins = runtime_pins(args.venv, SQL_EXTRA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{args.out.name}.", dir=args.out.parent))
    try:
        print(
            "wheels: downloading for CPython 3.13 manylinux x86_64: "
            f"{' '.join(pins)}; {SQL_EXTRA}: {' '.join(sql_pins)}"
        )
        cmd = [str(args.venv / "bin" / "pip"), "download", "--quiet", "-d", str(tmp)]
        # The locks' versions constrain the resolution (not with --update-lock): a package
        # the roots do not pin (idna, say) stays at its locked version when PyPI has a newer
        # one, so a download on another day is the same download.
        constraints = tmp.parent / f"{tmp.name}.constraints.txt"
        constraints.write_text(
            "".join(
                f"{name}=={version}\n"
                for lock in (args.lock, args.sql_lock)
                if lock.is_file() and not args.update_lock
                for name, (version, _) in sorted(locked(lock.read_text()).items())
            )
        )
        done = subprocess.run(
            [*cmd, "--disable-pip-version-check", *PLATFORM_ARGS, "-c", str(constraints),
             *pins, *sql_pins],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        constraints.unlink(missing_ok=True)
        errors = "\n".join(ln for ln in done.stderr.splitlines() if NOISE not in ln)
        if done.returncode != 0:
            raise SystemExit(
                "wheels: pip download failed (is PyPI reachable? or do the roots now need a "
                "version the locks do not have: then review and run --update-lock)\n" + errors
            )

        wheels = {w.name: w for w in map(read_wheel, sorted(tmp.glob("*.whl")))}
        keep = closure(wheels, [Requirement(p) for p in pins])
        # The generic image installs both locks: what the first has is not repeated.
        sql_keep = {
            name: wheel
            for name, wheel in closure(wheels, [Requirement(p) for p in sql_pins]).items()
            if name not in keep
        }
        if bad := FORBIDDEN & (keep.keys() | sql_keep.keys()):
            raise SystemExit(f"wheels: {sorted(bad)} must stay out of the Lambda images")
        for name, wheel in wheels.items():
            if name not in keep and name not in sql_keep:
                wheel.path.unlink()
        sets = [(keep, args.lock), (sql_keep, args.sql_lock)]
        if args.update_lock:
            args.lock.write_text(lock_text(keep, pins))
            args.sql_lock.write_text(lock_text(sql_keep, sql_pins, SQL_TITLE))
            for wrote, lock in sets:
                print(f"wheels: wrote {lock} ({len(wrote)} wheels): review and commit it")
        check_locks(sets)
        left_out = set(wheels) - set(keep) - set(sql_keep)
        (tmp / "requirements.txt").write_text(
            pins_text(keep, pins, f"every image installs ({args.lock.name})", left_out)
        )
        (tmp / "requirements-sql.txt").write_text(
            pins_text(
                sql_keep,
                sql_pins,
                f"the generic image adds ({args.sql_lock.name}; the `{SQL_EXTRA}` extra)",
                left_out,
            )
        )
        if args.out.exists():
            shutil.rmtree(args.out)
        tmp.rename(args.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    size = sum(p.stat().st_size for p in args.out.glob("*.whl"))
    print(
        f"wheels: {len(keep)} + {len(sql_keep)} ({SQL_EXTRA}) wheels, {size / 1e6:.0f} MB "
        f"in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
