"""Shared FastAPI plumbing for lamina functions: schemas, error mapping, limits, dependencies."""
