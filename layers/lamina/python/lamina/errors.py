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


class InvalidInputError(LaminaError):
    """The caller's input cannot be processed as given (semantic, not schema, problems)."""

    code = "invalid_input"


class TextTooLongError(InvalidInputError):
    """A text exceeds the model's token limit and the caller asked us not to truncate."""

    code = "text_too_long"

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class ModelNotFoundError(LaminaError):
    """The request names a model this function does not serve."""

    code = "model_not_found"
