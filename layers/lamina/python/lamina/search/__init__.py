"""Vector search over collections of stored vectors (issue 17): ``index`` is the interface,
``pg`` its PostgreSQL + pgvector implementation, ``config`` opens the one a function's
settings name."""
