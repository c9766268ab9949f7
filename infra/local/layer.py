"""The third-party packages of the ``lamina`` Lambda layer (``LaminaLayer`` in template.yaml).

The layer serves the zip functions (the batch submit function): the ``lamina`` library plus
what its model-free code imports, Powertools (with the ``tracer`` extra: ``Tracing: Active``)
and pydantic. Never numpy, ONNX Runtime, tokenizers or FastAPI: the functions that need them
are images. boto3 and its dependencies are in every Lambda Python runtime.

The versions are the ones ``make wheels`` pinned in ``build/wheels/requirements.txt`` (the
versions the tests ran against), and the dependency closure is read from the wheels'
own metadata, the way ``infra.local.wheels`` computes the image's.

Usage (``layers/lamina/Makefile`` runs it):
``python -m infra.local.layer [--wheels build/wheels]`` prints one ``name==version`` a line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.local.wheels import FORBIDDEN, closure, read_wheel

ROOT = Path(__file__).resolve().parents[2]
# What the layer's code imports (lamina.settings, lamina.observability, lamina.batch).
ROOTS = {"aws-lambda-powertools": "tracer", "pydantic": ""}
# Model and HTTP stacks: in the images only.
NOT_IN_LAYER = FORBIDDEN | {"numpy", "onnxruntime", "tokenizers", "fastapi", "starlette", "mangum"}


def pins(wheels_dir: Path) -> dict[str, str]:
    """name -> version from ``make wheels``' requirements.txt."""
    lock = wheels_dir / "requirements.txt"
    if not lock.is_file():
        raise SystemExit(f"layer: no {lock}: run `make wheels` first")
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name)] = version
    return found


def layer_requirements(wheels_dir: Path) -> list[str]:
    """Every package the layer installs, pinned, sorted by name."""
    locked = pins(wheels_dir)
    roots = []
    for name, extra in ROOTS.items():
        if name not in locked:
            raise SystemExit(f"layer: {name} is not in {wheels_dir}/requirements.txt")
        roots.append(Requirement(f"{name}{f'[{extra}]' if extra else ''}=={locked[name]}"))
    wheels = {w.name: w for w in map(read_wheel, sorted(wheels_dir.glob("*.whl")))}
    reached = closure(wheels, roots)
    if bad := NOT_IN_LAYER & reached.keys():
        raise SystemExit(f"layer: {sorted(bad)} must stay out of the lamina layer")
    return [f"{w.name}=={w.version}" for w in sorted(reached.values(), key=lambda w: w.name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=ROOT / "build" / "wheels")
    args = parser.parse_args(argv)
    print("\n".join(layer_requirements(args.wheels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
