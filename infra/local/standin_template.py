"""Put the podman path's functions on lamina's stand-in base image, never under AWS's name.

On a machine with no Docker engine, ``infra/local/base-image.sh`` builds a stand-in for the
AWS Lambda base image and names it ``STANDIN_IMAGE`` (``localhost/lamina/...``: a name that
cannot be mistaken for AWS's ``public.ecr.aws/lambda/python:3.13``). Two things then need
the stand-in named explicitly:

- the image functions: ``functions/Dockerfile`` builds ``FROM ${BASE_IMAGE}``, whose default
  is the AWS image. SAM CLI (1.170) takes Docker build args only from a function's
  ``Metadata.DockerBuildArgs`` (no command-line flag), so ``template`` writes a copy of
  ``template.yaml`` at the repository root (``.template.standin.yaml``, git-ignored: the
  ``DockerContext: .`` and ``CodeUri`` paths keep resolving) in which every image function's
  ``DockerBuildArgs`` sets ``BASE_IMAGE`` to the stand-in; ``infra/local/sam-build.sh``
  builds that copy.
- the zip functions (Runtime python3.13): ``sam local invoke`` / ``start-api`` run them on
  ``public.ecr.aws/lambda/python:3.13-x86_64`` unless told otherwise with
  ``--invoke-image <LogicalId>=<image>`` (per function: the bare form would replace the
  image functions' own images too). ``invoke-images`` prints those options.

The transform works on lines, not on parsed YAML (comments, order and formatting survive),
and only on the layout ``template.yaml`` uses: block-style resources indented by two
spaces, their keys by four, ``Properties`` / ``Metadata`` keys by six. Anything else (no
image function, a flow-style ``Metadata`` or ``DockerBuildArgs``, a function whose package
type or runtime cannot be read) stops it with an error rather than building on AWS's name.

Usage (from the repository root, with the project venv):
    python -m infra.local.standin_template image
    python -m infra.local.standin_template template [--template T] [--out O] [--image I]
    python -m infra.local.standin_template invoke-images [--template T] [--image I]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# The stand-in's one name (infra/local/base-image.sh builds it; tests/container uses it).
STANDIN_IMAGE = "localhost/lamina/lambda-python-standin:3.13"
# The only runtime the stand-in stands in for.
STANDIN_RUNTIME = "python3.13"
# functions/Dockerfile's build argument naming its base image.
BUILD_ARG = "BASE_IMAGE"

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
OUTPUT = ROOT / ".template.standin.yaml"

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
PACKAGE_TYPES = ("Image", "Zip")

_COMMENT = r"\s*(?:#.*)?$"
_RESOURCES = re.compile(r"^Resources:" + _COMMENT)
_TOP_LEVEL = re.compile(r"^[^\s#]")
_RESOURCE = re.compile(r"^  ([A-Za-z0-9]+):" + _COMMENT)
_SECTION = re.compile(r"^    ([A-Za-z0-9]+):(.*)$")
_TYPE = re.compile(r"^    Type:\s*(\S+)" + _COMMENT)
_KEY = re.compile(r"^      ([A-Za-z0-9]+):(.*)$")
_ARG = re.compile(r"^        ([A-Za-z0-9_]+):(.*)$")


class LayoutError(Exception):
    """The template is not laid out as this transform expects."""


@dataclass(frozen=True)
class Function:
    """A function resource of the template, as the lines show it."""

    name: str
    package_type: str  # "Image" or "Zip"
    runtime: str | None
    first: int  # index of the "  Name:" line
    end: int  # index of the line after the resource's block


def _blank_or_comment(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _value(rest: str) -> str:
    """The plain scalar after ``key:`` (a trailing comment and quotes dropped)."""
    return re.sub(r"\s+#.*$", "", rest).strip().strip("\"'")


def _resources(lines: Sequence[str]) -> list[tuple[str, int, int]]:
    """(logical id, first line, end line) of every resource, in order."""
    starts = [i for i, line in enumerate(lines) if _RESOURCES.match(line)]
    if len(starts) != 1:
        raise LayoutError(f"expected one top-level 'Resources:' line, found {len(starts)}")
    end = next(
        (i for i in range(starts[0] + 1, len(lines)) if _TOP_LEVEL.match(lines[i])), len(lines)
    )
    found: list[tuple[str, int, int]] = []
    for i in range(starts[0] + 1, end):
        line = lines[i]
        if _blank_or_comment(line):
            continue
        if match := _RESOURCE.match(line):
            if found:
                name, first, _ = found[-1]
                found[-1] = (name, first, i)
            found.append((match[1], i, end))
        elif not found or not line.startswith("   "):
            raise LayoutError(f"line {i + 1}: not a block-style resource: {line.strip()!r}")
    return found


def _section(lines: Sequence[str], first: int, end: int, name: str) -> tuple[int, int] | None:
    """(header line, end line) of the four-space key ``name`` of a resource, if present."""
    for i in range(first + 1, end):
        match = _SECTION.match(lines[i])
        if match and match[1] == name:
            if _value(match[2]):
                raise LayoutError(
                    f"line {i + 1}: {name} must be a block (one key a line), not "
                    f"{match[2].strip()!r}"
                )
            stop = next(
                (
                    j
                    for j in range(i + 1, end)
                    if not _blank_or_comment(lines[j]) and not lines[j].startswith("      ")
                ),
                end,
            )
            return i, stop
    return None


def _keys(lines: Sequence[str], section: tuple[int, int] | None) -> dict[str, tuple[int, str]]:
    """The six-space keys of a section: name -> (line, value as written)."""
    if section is None:
        return {}
    return {
        match[1]: (i, match[2])
        for i in range(section[0] + 1, section[1])
        if (match := _KEY.match(lines[i]))
    }


def functions(lines: Sequence[str]) -> list[Function]:
    """Every function resource of the template: its package type and runtime."""
    found: list[Function] = []
    for name, first, end in _resources(lines):
        types = [m[1] for i in range(first + 1, end) if (m := _TYPE.match(lines[i]))]
        if len(types) != 1:
            raise LayoutError(f"{name}: expected one 'Type:' line, found {len(types)}")
        if types[0] not in FUNCTION_TYPES:
            continue
        if types[0] != "AWS::Serverless::Function":
            raise LayoutError(f"{name}: {types[0]} is not handled (AWS::Serverless::Function only)")
        properties = _keys(lines, _section(lines, first, end, "Properties"))
        package_type = (
            _value(properties["PackageType"][1]) if "PackageType" in properties else "Zip"
        )
        if package_type not in PACKAGE_TYPES:
            raise LayoutError(f"{name}: PackageType {package_type!r} is neither Image nor Zip")
        runtime = _value(properties["Runtime"][1]) if "Runtime" in properties else None
        found.append(Function(name, package_type, runtime, first, end))
    return found


def image_functions(lines: Sequence[str]) -> list[Function]:
    return [f for f in functions(lines) if f.package_type == "Image"]


def zip_functions(lines: Sequence[str]) -> list[Function]:
    """The zip functions; each must run on the stand-in's runtime (python3.13)."""
    found = [f for f in functions(lines) if f.package_type == "Zip"]
    for function in found:
        if function.runtime != STANDIN_RUNTIME:
            raise LayoutError(
                f"{function.name}: zip function of Runtime {function.runtime or '(none)'}: the "
                f"stand-in stands in for {STANDIN_RUNTIME} only"
            )
    return found


def standin_template(text: str, image: str = STANDIN_IMAGE) -> str:
    """``text`` with ``DockerBuildArgs.BASE_IMAGE: image`` in every image function's Metadata."""
    lines = text.splitlines(keepends=True)
    targets = image_functions(lines)
    if not targets:
        raise LayoutError("no image function (PackageType: Image) in the template")
    # Edit from the last function up, so the line numbers of the others stay valid.
    for function in reversed(targets):
        lines = _set_build_arg(lines, function, image)
    header = (
        "# Generated by infra/local/standin_template.py from template.yaml for the podman path:\n"
        f"# every image function builds FROM {image}. Git-ignored; do not edit.\n"
    )
    return header + "".join(lines)


def _set_build_arg(lines: list[str], function: Function, image: str) -> list[str]:
    metadata = _section(lines, function.first, function.end, "Metadata")
    if metadata is None:
        raise LayoutError(f"{function.name}: image function without a Metadata block")
    keys = _keys(lines, metadata)
    if "Dockerfile" not in keys:
        raise LayoutError(f"{function.name}: Metadata has no Dockerfile")
    arg = f"        {BUILD_ARG}: {image}\n"
    if "DockerBuildArgs" not in keys:
        # After the block's last key, before any blank or comment lines that follow it.
        last = max(i for i in range(metadata[0], metadata[1]) if not _blank_or_comment(lines[i]))
        return [*lines[: last + 1], "      DockerBuildArgs:\n", arg, *lines[last + 1 :]]
    header, rest = keys["DockerBuildArgs"]
    if _value(rest):
        raise LayoutError(
            f"{function.name}: DockerBuildArgs must be a block (one argument a line), not "
            f"{rest.strip()!r}"
        )
    args: dict[str, int] = {}
    stop = header + 1
    for i in range(header + 1, metadata[1]):
        if _blank_or_comment(lines[i]):
            continue
        match = _ARG.match(lines[i])
        if match is None:
            if lines[i].startswith("       "):
                raise LayoutError(
                    f"{function.name}: unexpected line in DockerBuildArgs: {lines[i].strip()!r}"
                )
            break
        args[match[1]] = i
        stop = i + 1
    if not args:
        raise LayoutError(f"{function.name}: empty DockerBuildArgs")
    if BUILD_ARG in args:
        return [*lines[: args[BUILD_ARG]], arg, *lines[args[BUILD_ARG] + 1 :]]
    return [*lines[:stop], arg, *lines[stop:]]


def invoke_image_options(lines: Sequence[str], image: str = STANDIN_IMAGE) -> list[str]:
    """``--invoke-image <ZipFunction>=image`` for every zip function (SAM CLI's options)."""
    options: list[str] = []
    for function in zip_functions(lines):
        options += ["--invoke-image", f"{function.name}={image}"]
    return options


def write(template: Path, out: Path, image: str) -> list[str]:
    """Write the stand-in copy of ``template`` to ``out`` (atomically); the functions edited."""
    text = template.read_text(encoding="utf-8")
    result = standin_template(text, image)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(result, encoding="utf-8")
    os.replace(tmp, out)
    return [f.name for f in image_functions(text.splitlines(keepends=True))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.standin_template",
        description="lamina's stand-in base image for the podman path (docs/local.md)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("image", help="print the stand-in's name")
    build = commands.add_parser("template", help="write the stand-in copy of the template")
    invoke = commands.add_parser("invoke-images", help="print the --invoke-image options")
    for sub in (build, invoke):
        sub.add_argument("--template", type=Path, default=TEMPLATE)
        sub.add_argument("--image", default=STANDIN_IMAGE)
    build.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    try:
        if args.command == "image":
            print(STANDIN_IMAGE)
        elif args.command == "template":
            edited = write(args.template, args.out, args.image)
            print(f"{args.out}: BASE_IMAGE={args.image} for {', '.join(edited)}", file=sys.stderr)
        else:
            lines = args.template.read_text(encoding="utf-8").splitlines(keepends=True)
            print(" ".join(invoke_image_options(lines, args.image)))
    except (LayoutError, OSError) as e:
        print(f"standin_template: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
