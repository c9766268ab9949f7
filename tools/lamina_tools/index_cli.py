"""``lamina index ...``: search collections on PostgreSQL + pgvector (docs/search.md).

    lamina index load COLLECTION JOB [--local DIR | --bucket B]   a finished batch job
    lamina index load COLLECTION FILE.jsonl --model-dir DIR        a vectors file
    lamina index list                                              collections and counts
    lamina index delete COLLECTION ID [ID ...]                     items by id
    lamina index drop COLLECTION                                   the whole collection

The database: --dsn, default $LAMINA_SEARCH_DSN (`make pg` prints a local one).
A load is idempotent: items are upserted by id (COPY into a staging table, then one
INSERT ... ON CONFLICT per batch), so running it again changes nothing and says so; the
HNSW index is built after the first load (faster than indexing row by row).
Exit codes: 0 done, 1 an error (its message says what), 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidInputError
from lamina_tools.console import aws_options

if TYPE_CHECKING:
    from lamina.search.index import Item, ModelIdentity
    from lamina.search.load import Source
    from lamina.search.pg import PgVectorIndex

DEFAULT_WORKDIR = Path("build/jobs")


def open_loading_index(dsn: str | None) -> PgVectorIndex:
    """The index a load writes to: one connection, and no 3 s API timeout (a load runs long
    statements: COPY batches, the HNSW build)."""
    from lamina.search.pg import PgVectorIndex

    if not dsn:
        raise InvalidInputError(
            "no database: pass --dsn or set LAMINA_SEARCH_DSN (`make pg` starts a local one "
            "and prints its DSN)"
        )
    return PgVectorIndex(dsn, pool_size=1, timeout_ms=600_000)


def _model(args: argparse.Namespace) -> ModelIdentity:
    from lamina.models.manifest import open_model_dir
    from lamina.search.index import ModelIdentity

    if args.model_dir:
        manifest = open_model_dir(Path(args.model_dir), verify=False)
        return ModelIdentity(manifest.name, manifest.version, manifest.digest)
    if args.model and args.model_version and args.fingerprint:
        return ModelIdentity(args.model, args.model_version, args.fingerprint)
    raise InvalidInputError(
        "a vectors file does not say which model made it: pass --model-dir DIR (the model's "
        "directory), or --model, --model-version and --fingerprint"
    )


def _counted(items: Iterator[Item], total: int | None, every: float = 2.0) -> Iterator[Item]:
    """``items``, with a progress line on stderr every ``every`` seconds."""
    started = last = time.monotonic()
    for done, item in enumerate(items, start=1):
        yield item
        now = time.monotonic()
        if now - last >= every:
            last = now
            of = f"/{total}" if total else ""
            rate = done / max(now - started, 1e-9)
            print(f"  {done}{of} items, {rate:,.0f}/s", file=sys.stderr)


def load_into(dsn: str | None, collection: str, source: Source) -> str:
    """Load ``source`` into ``collection`` (created if new), build its HNSW index if it has
    none; the one-line summary."""
    index = open_loading_index(dsn)
    try:
        started = time.monotonic()
        found = index.create_collection(collection, source.model, source.dim)
        print(
            f"loading {source.description} into {found.name} "
            f"({source.model.describe()}, {source.dim} dimensions)",
            file=sys.stderr,
        )
        result = index.upsert(found.name, _counted(source.items, source.total), source.model)
        loaded = time.monotonic() - started
        built = time.monotonic()
        fresh = index.build_index(found.name)
        build_s = time.monotonic() - built
    finally:
        index.close()
    rate = result.total / max(loaded, 1e-9)
    return (
        f"{found.name}: {result.inserted} inserted, {result.updated} updated, "
        f"{result.unchanged} unchanged ({result.total} items in {loaded:.1f} s, {rate:,.0f}/s)"
        + (f"; HNSW index built in {build_s:.1f} s" if fresh else "; index up to date")
    )


def _cmd_load(args: argparse.Namespace) -> int:
    from lamina.search import load

    source_path = Path(args.source)
    if source_path.suffix.lower() in (".jsonl", ".ndjson") and source_path.is_file():
        source = load.from_vectors_file(source_path, _model(args))
    else:
        source = load.from_job(_job_store(args), args.source, with_text=not args.no_text)
    print(load_into(args.dsn, args.collection, source))
    return 0


def _job_store(args: argparse.Namespace) -> Any:
    from lamina.errors import JobError
    from lamina.storage import LocalObjects, S3Objects

    if args.local is not None:
        return LocalObjects(Path(args.local), error=JobError)
    if not args.bucket:
        raise InvalidInputError(
            "no job store: pass --local DIR or --bucket (or LAMINA_BATCH_BUCKET)"
        )
    return S3Objects(args.bucket, endpoint_url=args.endpoint_url, error=JobError)


def _cmd_list(args: argparse.Namespace) -> int:
    index = open_loading_index(args.dsn)
    try:
        found = index.collections()
    finally:
        index.close()
    if not found:
        print("no collections")
    for c in found:
        state = "indexed" if c.indexed else "not indexed"
        print(f"{c.name}\t{c.count} items\t{c.dim} dims\t{c.model.describe()}\t{state}")
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    index = open_loading_index(args.dsn)
    try:
        gone = index.delete(args.collection, args.ids)
    finally:
        index.close()
    print(f"{args.collection}: {gone} of {len(args.ids)} deleted")
    return 0


def _cmd_drop(args: argparse.Namespace) -> int:
    index = open_loading_index(args.dsn)
    try:
        dropped = index.drop_collection(args.collection)
    finally:
        index.close()
    print(f"{args.collection}: {'dropped' if dropped else 'no such collection'}")
    return 0 if dropped else 1


def add_index_commands(groups: Any) -> None:
    """Register ``lamina index ...`` on the root parser's subcommands."""
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--dsn",
        default=os.environ.get("LAMINA_SEARCH_DSN"),
        help="the PostgreSQL (with pgvector) to use (default: $LAMINA_SEARCH_DSN)",
    )
    index = groups.add_parser("index", help="search collections (PostgreSQL + pgvector)")
    commands = index.add_subparsers(dest="command", required=True)

    loader = commands.add_parser(
        "load",
        parents=[db, aws_options("LAMINA_BATCH_BUCKET", "the batch bucket of the job")],
        help="load a finished batch job or a vectors file into a collection (idempotent)",
    )
    loader.add_argument("collection", metavar="COLLECTION")
    loader.add_argument(
        "source",
        metavar="FROM",
        help="a batch job id (in --local DIR or the batch bucket) or a .jsonl vectors file "
        '({"id", "embedding", "text"?, "metadata"?} per line)',
    )
    loader.add_argument(
        "--local",
        nargs="?",
        const=str(DEFAULT_WORKDIR),
        help=f"the job ran locally (`lamina jobs run --local`): its directory ({DEFAULT_WORKDIR})",
    )
    loader.add_argument(
        "--no-text",
        action="store_true",
        help="do not read the job's input for texts and metadata (vectors and ids only)",
    )
    loader.add_argument("--model-dir", help="vectors file: the model directory that made them")
    loader.add_argument("--model", help="vectors file: the model's name")
    loader.add_argument("--model-version", help="vectors file: the model's version")
    loader.add_argument("--fingerprint", help="vectors file: the model's fingerprint (sha256)")
    loader.set_defaults(func=_cmd_load)

    listing = commands.add_parser("list", parents=[db], help="collections, models and counts")
    listing.set_defaults(func=_cmd_list)

    delete = commands.add_parser("delete", parents=[db], help="delete items by id")
    delete.add_argument("collection", metavar="COLLECTION")
    delete.add_argument("ids", metavar="ID", nargs="+")
    delete.set_defaults(func=_cmd_delete)

    drop = commands.add_parser("drop", parents=[db], help="drop a collection and its items")
    drop.add_argument("collection", metavar="COLLECTION")
    drop.set_defaults(func=_cmd_drop)
