"""Where a function's model comes from at cold start: ``MODEL_URI``.

- a local directory (the model baked into the image, e.g. ``/opt/ml/model``): used as is;
- ``s3://<bucket>/<prefix>/<name>@<alias>``: the alias is resolved to a version;
- ``s3://<bucket>/<prefix>/<name>/<version>``: that version.

An S3 model is fetched into ``LAMINA_MODEL_CACHE_DIR/<name>/<version>/`` (``/tmp`` on Lambda,
the only writable place), every file checked against the manifest's sha256, and reused by
later cold starts of the same sandbox when it is still intact. The embedder then opens the
directory like a baked one (and verifies it again unless ``LAMINA_VERIFY_MODEL=false``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import ConfigurationError, StoreError
from lamina.models.store import ModelRef, ModelStore, check_name

StoreFactory = Callable[[str, str], ModelStore]  # (bucket, prefix) -> store


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    ref: ModelRef

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{self.ref}"


def parse_model_uri(uri: str) -> Path | S3Location:
    """A local directory, or where in a bucket the model lives."""
    if not uri.startswith("s3://"):
        return Path(uri.removeprefix("file://"))
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    parts = [part for part in key.split("/") if part]
    if not bucket or not parts:
        raise ConfigurationError(
            f"MODEL_URI {uri!r}: expected s3://<bucket>/<prefix>/<name>@<alias>"
        )
    try:
        if "@" in parts[-1]:
            ref, prefix = ModelRef.parse(parts[-1]), parts[:-1]
        elif len(parts) >= 2:
            ref = ModelRef(
                check_name("model name", parts[-2]), version=check_name("version", parts[-1])
            )
            prefix = parts[:-2]
        else:
            raise StoreError("name a version (<name>/<version>) or an alias (<name>@<alias>)")
    except StoreError as exc:
        raise ConfigurationError(f"MODEL_URI {uri!r}: {exc.message}") from exc
    if not prefix:
        raise ConfigurationError(
            f"MODEL_URI {uri!r}: the store needs a prefix, e.g. s3://{bucket}/models/{ref}"
        )
    return S3Location(bucket=bucket, prefix="/".join(prefix), ref=ref)


def default_store(bucket: str, prefix: str) -> ModelStore:
    from lamina.models.store import S3ModelStore

    return S3ModelStore(bucket, prefix=prefix)


@dataclass(frozen=True)
class LocalModel:
    directory: Path
    source: str  # where it came from, for logs
    verified: bool  # every file was just checked against the manifest's sha256


def materialize(
    model_uri: str, cache: Path, *, store_factory: StoreFactory = default_store
) -> LocalModel:
    """The local model directory for ``model_uri``, fetching it if it lives in S3."""
    where = parse_model_uri(model_uri)
    if isinstance(where, Path):
        return LocalModel(where, str(where), verified=False)
    store = store_factory(where.bucket, where.prefix)
    name, version = store.resolve(where.ref)
    directory = store.fetch(name, version, cache)
    return LocalModel(directory, f"{where} -> {name}/{version}", verified=True)
