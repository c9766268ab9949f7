"""Domain exceptions. They carry no HTTP status: ``lamina.api.errors`` maps each class once."""

from __future__ import annotations


class LaminaError(Exception):
    """Base class of every error lamina raises on purpose."""

    code = "lamina_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class ConfigurationError(LaminaError):
    """Settings are missing or invalid; raised at cold start so the function fails fast."""

    code = "configuration_error"


class ModelLoadError(LaminaError):
    """A model directory is missing, incomplete or does not match its manifest."""

    code = "model_load_error"


class ModelFidelityError(ModelLoadError):
    """The model computes other vectors on this host than on its build host (cold start)."""

    code = "model_fidelity_error"


class ModelUnavailableError(LaminaError):
    """This process has no model to serve (its load failed at cold start)."""

    code = "model_unavailable"


class InvalidInputError(LaminaError):
    """The caller's input cannot be processed as given (semantic, not schema, problems)."""

    code = "invalid_input"


class NoABTestError(InvalidInputError):
    """An outcome for a model that is not under an A/B test here."""

    code = "no_ab_test"


class TextTooLongError(InvalidInputError):
    """A text exceeds the model's token limit and the caller asked us not to truncate."""

    code = "text_too_long"

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class RequestTooManyTokensError(InvalidInputError):
    """A request's texts are more tokens together (after truncation, or summed over split
    windows) than the deployment runs per request (LAMINA_MAX_REQUEST_TOKENS); raised after
    tokenizing and before the model runs."""

    code = "request_too_many_tokens"


class InvalidImageError(InvalidInputError):
    """The bytes are not a PNG or JPEG image that decodes completely (corrupt, truncated)."""

    code = "invalid_image"


class ImageTooLargeError(InvalidInputError):
    """The image is over the configured pixel or byte limit (a decompression bomb, too)."""

    code = "image_too_large"


class TensorError(InvalidInputError):
    """An inference request's tensor does not match the model's signature (name, datatype,
    rank, fixed dimension, data length); the message names the input and says why."""

    code = "invalid_tensor"


class ParameterError(InvalidInputError):
    """A request's parameter of a query model is missing, unknown, or not a value it takes
    (the message and ``param`` name it)."""

    code = "invalid_parameter"


class QueryTimeoutError(InvalidInputError):
    """A query model's query ran longer than its ``timeout_ms`` (or needed more memory than
    its limit) for these parameters."""

    code = "query_timeout"


class StorageError(LaminaError):
    """An object cannot be read or written (S3 or the local directory standing in for it).

    ``lamina.storage`` raises it unless its caller names its own error class (the model
    store passes StoreError, the batch jobs JobError)."""

    code = "storage_error"


class StoreError(LaminaError):
    """The model store cannot do what was asked (missing version or alias, conflict, S3 error)."""

    code = "store_error"


class VersionNotFoundError(StoreError):
    code = "version_not_found"


class AliasNotFoundError(StoreError):
    code = "alias_not_found"


class VersionExistsError(StoreError):
    """Versions are immutable: publishing different content under an existing version."""

    code = "version_exists"


class IntegrityError(StoreError):
    """A stored or downloaded file does not match the sha256 in its manifest."""

    code = "integrity_error"


class ModelNotFoundError(LaminaError):
    """The request names a model this function does not serve."""

    code = "model_not_found"


class ModelMismatchError(LaminaError):
    """The caller expects another model (by fingerprint) than the one that would answer."""

    code = "model_mismatch"


class JobError(LaminaError):
    """A batch job cannot be submitted, read or run (bad input file, storage or queue error)."""

    code = "job_error"


class JobNotFoundError(JobError):
    code = "job_not_found"


class JobInputError(JobError):
    """The input file of a job cannot be read as a whole (unsupported format, bad CSV header)."""

    code = "job_input_invalid"


class SearchError(LaminaError):
    """The vector index cannot do what was asked (lamina.search)."""

    code = "search_error"
    retry_after: int | None = None  # seconds, for a Retry-After header (503s)


class SearchNotConfiguredError(SearchError):
    """This function has no vector index (LAMINA_SEARCH_DSN / LAMINA_SEARCH_SECRET_ARN unset)."""

    code = "search_not_configured"


class IndexUnavailableError(SearchError):
    """The database behind the index does not answer (connect, timeout, server error)."""

    code = "index_unavailable"
    retry_after = 2


class CollectionNotFoundError(SearchError):
    code = "collection_not_found"


class ItemNotFoundError(SearchError):
    """No item of the collection has the id(s) a request names."""

    code = "item_not_found"
