# A local PostgreSQL with pgvector for the search feature (docs/postgres.md); included by the
# Makefile. The cluster lives in $LAMINA_PG_DIR (default build/pg/data) on 127.0.0.1 at
# $LAMINA_PG_PORT (default 55432): `make pg LAMINA_PG_PORT=55433` for another port.
# The first run installs the server and builds pgvector (apt: as root).

PG_SH := $(dir $(lastword $(MAKEFILE_LIST)))postgres.sh

.PHONY: pg-install pg pg-stop

pg-install:  ## PostgreSQL server (apt) + pgvector 0.8.0 built from Debian's pinned source tarball
	@$(PG_SH) install

pg:  ## start the local PostgreSQL + pgvector (build/pg/data, 127.0.0.1:55432); prints its DSN
	@$(PG_SH) start

pg-stop:  ## stop the local PostgreSQL of `make pg`
	@$(PG_SH) stop
