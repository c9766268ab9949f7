"""The HTTP side of lamina: the app factory (``app.model_app``), the cold-start service slot,
error mapping, the request guard, limits, and one package per feature (``embeddings``,
``classify``, ``images``, ``oip``, ``jobs``: ``schemas`` + ``service`` each)."""
