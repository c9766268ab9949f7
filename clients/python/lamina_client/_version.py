"""The package version (also the user agent: lamina-client/<version>)."""

__version__ = "0.1.0"
