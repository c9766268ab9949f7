"""Builders of model directories (build time only: torch, transformers, scikit-learn)."""
