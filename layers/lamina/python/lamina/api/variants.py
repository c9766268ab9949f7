"""A/B tests between two versions of a model: which version answers which caller.

A function serves a model's ``control`` version (the one ``MODEL_URI`` / ``LAMINA_MODELS``
names) and, when ``LAMINA_AB_CANDIDATES`` names another version of it, a ``candidate``
that answers a share ``LAMINA_AB_WEIGHT`` of the callers.

**Assignment is sticky and deterministic.** The caller key is the ``x-lamina-ab-key``
header when the client sends one (a user id, a session id: anything stable), else the
request's id (each request is then assigned on its own). The key and the model's name are
hashed with SHA-256; the first 8 bytes as a fraction of 2**64 is the caller's bucket, and
a bucket below the weight gets the candidate. So one key always gets the same variant at a
given weight, on every Lambda sandbox and after every cold start, with nothing stored; and
raising the weight only moves callers from control to candidate, never back.

**A caller that asks for a version gets it.** A request that pins a version (the Open
Inference Protocol's ``/versions/{version}``) or a model fingerprint
(``x-expect-model-fingerprint``) is answered by the variant that matches, if one does; it is
not counted in the test, since it did not take part in the draw.

**Everyone can see it.** The answer carries ``x-lamina-variant`` (control or candidate)
beside the model version it already names; the access log line and the per-variant metrics
(``VariantLatency``, ``VariantErrors``) carry it too (``lamina.api.middleware``). Outcomes
reported with ``POST /api/v1/outcomes`` are counted per variant (``lamina.api.app``).

How it travels through a request: the request guard puts an ``Assignment`` in a context
variable (``begin``); the service's model resolution asks the model's ``Variants`` to
``pick``, which writes the variant into it; the guard turns it into the header, the log
line and the metrics when the answer starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final, Generic, Literal, Protocol, TypeVar

from lamina.errors import InvalidInputError
from lamina.models.manifest import Manifest

AB_KEY_HEADER = "x-lamina-ab-key"
VARIANT_HEADER = "x-lamina-variant"
Variant = Literal["control", "candidate"]
CONTROL: Final = "control"
CANDIDATE: Final = "candidate"
MAX_KEY_CHARS = 256


class Versioned(Protocol):
    @property
    def manifest(self) -> Manifest: ...


M = TypeVar("M", bound=Versioned)


@dataclass
class Assignment:
    """One request's part in the A/B tests: its key, and who answered (``pick``)."""

    key: str
    sticky: bool  # the caller sent x-lamina-ab-key (else the key is the request id)
    model: str | None = None
    variant: Variant | None = None
    version: str | None = None
    counted: bool = False  # drawn by the key (a pinned version is not part of the test)


@dataclass(frozen=True)
class Answered:
    """Who answered a request under an A/B test (what logs and metrics carry)."""

    model: str
    variant: Variant
    version: str
    counted: bool
    key: str
    sticky: bool


def answered(assignment: Assignment | None) -> Answered | None:
    """The request's answer under a test, or None (no test, or no model picked)."""
    if assignment is None or assignment.variant is None:
        return None
    assert assignment.model is not None
    assert assignment.version is not None
    return Answered(
        assignment.model,
        assignment.variant,
        assignment.version,
        assignment.counted,
        assignment.key,
        assignment.sticky,
    )


_CURRENT: ContextVar[Assignment | None] = ContextVar("lamina_ab_assignment", default=None)


def check_key(key: str) -> str:
    """A caller key as sent; InvalidInputError when it is empty or too long."""
    if not key.strip() or len(key) > MAX_KEY_CHARS:
        raise InvalidInputError(
            f"{AB_KEY_HEADER} must be 1 to {MAX_KEY_CHARS} characters (a stable id of the "
            "caller: a user or session id)",
            param=AB_KEY_HEADER,
        )
    return key


def begin(key: str | None, request_id: str) -> Assignment:
    """Start the current request's assignment (the request guard calls it first)."""
    assignment = Assignment(key=key if key is not None else request_id, sticky=key is not None)
    _CURRENT.set(assignment)
    return assignment


def current() -> Assignment | None:
    return _CURRENT.get()


def bucket(model: str, key: str) -> float:
    """The caller's place in [0, 1) for ``model``: SHA-256 of name and key."""
    digest = hashlib.sha256(f"{model}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(model: str, key: str, weight: float) -> Variant:
    """The variant ``key`` gets for ``model`` at candidate share ``weight``."""
    return CANDIDATE if bucket(model, key) < weight else CONTROL


class Variants(Generic[M]):
    """A served model's versions: the control and, under an A/B test, a candidate."""

    def __init__(self, control: M, candidate: M | None = None, weight: float = 0.0) -> None:
        self.control = control
        self.candidate = candidate
        self.weight = weight if candidate is not None else 0.0
        self.name = control.manifest.name

    @property
    def testing(self) -> bool:
        return self.candidate is not None

    def by_variant(self, variant: str) -> M | None:
        return self.control if variant == CONTROL else self.candidate

    def pick(
        self, *, version: str | None = None, digest: str | None = None, counted: bool = True
    ) -> M:
        """The version that answers the current request (the control without a test).

        ``version`` / ``digest``: the caller pins one; the variant that matches answers it
        (the control when none does, so the caller's own check refuses it), uncounted.
        ``counted=False``: a request that runs no model (model info, tokenizing) is drawn
        and answered by its variant, but left out of the test's metrics.
        """
        if self.candidate is None:
            return self.control
        assignment = _CURRENT.get()
        pinned = version is not None or digest is not None
        if pinned:
            manifest = self.candidate.manifest
            matches = (version is None or version == manifest.version) and (
                digest is None or digest == manifest.digest
            )
            variant: Variant = CANDIDATE if matches else CONTROL
        elif assignment is not None:
            variant = assign(self.name, assignment.key, self.weight)
        else:  # outside a request (a test, the command line): the control
            variant = CONTROL
        model = self.candidate if variant == CANDIDATE else self.control
        if assignment is not None:
            assignment.model = self.name
            assignment.variant = variant
            assignment.version = model.manifest.version
            assignment.counted = counted and not pinned
        return model


def ab_variants(
    served: Mapping[str, M], candidates: Mapping[str, M], weight: float
) -> dict[str, Variants[M]]:
    """Every served model's ``Variants``, by name."""
    return {name: Variants(model, candidates.get(name), weight) for name, model in served.items()}
