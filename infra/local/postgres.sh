#!/usr/bin/env bash
# A local PostgreSQL with the pgvector extension, for the search feature's local server,
# tests and benchmark (docs/postgres.md). Needs Debian's apt mirror only.
#   postgres.sh install              PostgreSQL server (Debian's; apt, only what is missing) +
#                                    pgvector 0.8.0 built from Debian's pinned source tarball
#   postgres.sh start [DIR] [PORT]   install, then create (once) and start the cluster in DIR
#                                    on 127.0.0.1:PORT; prints its DSN as the last stdout line
#   postgres.sh dsn [DIR]            print the DSN of the cluster in DIR (running or not)
#   postgres.sh stop [DIR]           stop the cluster in DIR (fast shutdown; fine if stopped)
# DIR defaults to $LAMINA_PG_DIR, else build/pg/data; PORT to $LAMINA_PG_PORT, else 55432.
# DIR holds pgdata/ (the cluster), password (role lamina's, mode 600), postgres.log and the
# server's unix socket. Only the DSN goes to stdout; everything else goes to stderr.
#
# PostgreSQL refuses to run as root: run as root, the server runs as Debian's `postgres`
# user, and DIR is chowned to it (mode 700). If postgres cannot reach DIR (a directory above
# it that it may not search: /root, or pytest's /tmp/pytest-of-root, 700, which every new
# pytest session resets to 700), the cluster lives in /var/tmp/lamina-pg/<hash of DIR>/ and
# DIR/pgdata and DIR/postgres.log link to it; every start removes such clusters whose DIR is
# gone. No permission outside DIR and /var/tmp/lamina-pg is changed. Run as another
# user, everything runs as that user (then nothing may be missing: apt needs root).
# LAMINA_DEBIAN_MIRROR (default http://deb.debian.org/debian) is where the tarball comes from.
set -euo pipefail
# shellcheck source=infra/local/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PGVECTOR_VERSION=0.8.0
PGVECTOR_TARBALL="pgvector_${PGVECTOR_VERSION}.orig.tar.gz"
PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
MIRROR="${LAMINA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="$LAMINA_ROOT/build/pg"
DEFAULT_DIR="$CACHE/data"
DEFAULT_PORT=55432
# Where clusters live whose DIR the postgres user cannot reach (see relocate).
RELOCATED=/var/tmp/lamina-pg
ROLE=lamina
DATABASE=lamina

# The caller's libpq settings must not steer the script's own psql/pg_ctl calls.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE PGSERVICE PGOPTIONS \
  PGDATA PGSSLMODE

is_root() { [ "$(id -u)" -eq 0 ]; }

usage() {
  cat >&2 <<'EOF'
usage: infra/local/postgres.sh install
       infra/local/postgres.sh start [DIR] [PORT]   (DIR: $LAMINA_PG_DIR or build/pg/data;
                                                     PORT: $LAMINA_PG_PORT or 55432)
       infra/local/postgres.sh dsn [DIR]
       infra/local/postgres.sh stop [DIR]
EOF
  exit 2
}

# --- install ------------------------------------------------------------------------------

# The highest PostgreSQL major whose server is installed (empty if none).
installed_major() {
  local best="" path v
  for path in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$path" ] || continue
    v="${path#/usr/lib/postgresql/}"
    v="${v%%/*}"
    if [ -z "$best" ] || [ "$v" -gt "$best" ]; then best="$v"; fi
  done
  echo "$best"
}

APT_UPDATED=false
apt_install() {
  is_root || die "missing: $*. Installing it (apt) needs root: run this command as root"
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$APT_UPDATED" = false ]; then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=true
  fi
  log "installing $* (apt)"
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >&2 \
    || die "apt-get install $* failed"
}

# The major of Debian's default server (the `postgresql` package's dependency).
debian_default_major() {
  local major
  major="$(apt-cache depends postgresql 2>/dev/null \
    | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1)"
  if [ -z "$major" ] && is_root && [ "$APT_UPDATED" = false ]; then
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=true
    major="$(apt-cache depends postgresql 2>/dev/null \
      | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n1)"
  fi
  [ -n "$major" ] || die "no PostgreSQL server installed and apt knows no \`postgresql\` package"
  echo "$major"
}

# Install pgvector's files' paths into PG_SHAREDIR / PG_PKGLIBDIR for major $1.
pg_paths() {
  local pg_config="/usr/lib/postgresql/$1/bin/pg_config"
  [ -x "$pg_config" ] || die "$pg_config not found (package postgresql-client-$1)"
  PG_SHAREDIR="$("$pg_config" --sharedir)"
  PG_PKGLIBDIR="$("$pg_config" --pkglibdir)"
}

pgvector_installed() {
  local control="$PG_SHAREDIR/extension/vector.control"
  [ -f "$control" ] && grep -Eq "^default_version *= *'${PGVECTOR_VERSION//./\\.}'" "$control" \
    && [ -f "$PG_PKGLIBDIR/vector.so" ] \
    && [ -f "$PG_SHAREDIR/extension/vector--${PGVECTOR_VERSION}.sql" ]
}

download() { # URL FILE
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1"
  elif command -v wget >/dev/null; then
    wget -q --tries=3 --timeout=20 -O "$2" "$1"
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "$1" "$2"
  fi
}

sha256_ok() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$PGVECTOR_SHA256" ]; }

# Debian's source package of pgvector (trixie's 0.8.0-1): its .orig.tar.gz is the upstream
# release tarball. Cached in build/pg/, checked against the pinned sha256 every time.
fetch_tarball() {
  local tarball="$CACHE/$PGVECTOR_TARBALL" url
  url="$MIRROR/pool/main/p/pgvector/$PGVECTOR_TARBALL"
  if [ -f "$tarball" ] && ! sha256_ok "$tarball"; then
    log "cached $tarball does not match sha256 $PGVECTOR_SHA256: downloading it again"
    rm -f "$tarball"
  fi
  if [ ! -f "$tarball" ]; then
    log "downloading $url"
    download "$url" "$tarball.part" || {
      rm -f "$tarball.part"
      die "cannot download $url (LAMINA_DEBIAN_MIRROR=... for another mirror, or put the file in $CACHE/)"
    }
    sha256_ok "$tarball.part" || {
      rm -f "$tarball.part"
      die "$url does not match the pinned sha256 $PGVECTOR_SHA256"
    }
    mv "$tarball.part" "$tarball"
  fi
  echo "$tarball"
}

# OPTFLAGS="": upstream's Makefile defaults to -march=native, a build that may crash with
# SIGILL on another CPU. Without it the build is portable (x86-64 baseline; pgvector picks
# its AVX/F16C code paths at run time where it has them).
build_pgvector() { # MAJOR
  local major="$1" pg_config="/usr/lib/postgresql/$1/bin/pg_config" tarball src
  tarball="$(fetch_tarball)"
  src="$CACHE/src"
  rm -rf "$src"
  mkdir -p "$src"
  tar -xzf "$tarball" -C "$src" --no-same-owner
  log "building pgvector $PGVECTOR_VERSION for PostgreSQL $major (portable: OPTFLAGS=\"\")"
  make -C "$src/pgvector-$PGVECTOR_VERSION" -j"$(nproc)" OPTFLAGS="" PG_CONFIG="$pg_config" >&2 \
    || die "building pgvector failed (output above)"
  make -C "$src/pgvector-$PGVECTOR_VERSION" install OPTFLAGS="" PG_CONFIG="$pg_config" >&2 \
    || die "installing pgvector failed (output above)"
}

# Make sure the server of major $1 (empty: the installed one, else Debian's default) and
# pgvector are installed; sets PG_MAJOR and PG_BIN.
ensure_installed() {
  local major="${1:-}" missing=() lock
  [ -n "$major" ] || major="$(installed_major)"
  [ -n "$major" ] || major="$(debian_default_major)"
  [ -x "/usr/lib/postgresql/$major/bin/postgres" ] || missing+=("postgresql-$major")
  if [ ${#missing[@]} -eq 0 ]; then
    pg_paths "$major"
    if pgvector_installed; then
      PG_MAJOR="$major"
      PG_BIN="/usr/lib/postgresql/$major/bin"
      return
    fi
  fi
  # Something to install: one install at a time (concurrent test sessions, make -j).
  is_root || die "PostgreSQL $major with pgvector $PGVECTOR_VERSION is not installed; installing it (apt, make install) needs root: run this command as root"
  mkdir -p "$CACHE"
  lock="$CACHE/.install.lock"
  exec 9>"$lock"
  flock 9
  [ -x "/usr/lib/postgresql/$major/bin/postgres" ] || apt_install "postgresql-$major"
  pg_paths "$major"
  if ! pgvector_installed; then
    missing=()
    if [ ! -f "/usr/lib/postgresql/$major/lib/pgxs/src/makefiles/pgxs.mk" ] \
      || [ ! -f "/usr/include/postgresql/$major/server/postgres.h" ]; then
      missing+=("postgresql-server-dev-$major")
    fi
    command -v gcc >/dev/null || missing+=(gcc)
    command -v make >/dev/null || missing+=(make)
    if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
    build_pgvector "$major"
    pgvector_installed || die "pgvector $PGVECTOR_VERSION is still not installed in $PG_SHAREDIR/extension and $PG_PKGLIBDIR after the build"
    log "pgvector $PGVECTOR_VERSION installed for PostgreSQL $major"
  fi
  exec 9>&-
  PG_MAJOR="$major"
  PG_BIN="/usr/lib/postgresql/$major/bin"
}

# --- the cluster ---------------------------------------------------------------------------
# A cluster's HOME holds pgdata/ (the cluster), postgres.log and the server's socket: HOME is
# DIR, or, when the server's user could not reach DIR (see relocate), a directory of
# $RELOCATED that DIR/pgdata and DIR/postgres.log link to. DIR/password is always in DIR.

# [DIR] -> absolute path (created). An existing DIR must be empty or one of this script's:
# it is chowned to postgres, mode 700 (never /tmp or a home directory by mistake).
resolve_dir() {
  local dir="${1:-${LAMINA_PG_DIR:-$DEFAULT_DIR}}"
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -e "$dir/pgdata" ] \
    && [ ! -f "$dir/password" ]; then
    die "$dir is not empty and holds no cluster of this script (no pgdata/, no password): choose a new or empty DIR"
  fi
  mkdir -p "$dir"
  (cd "$dir" && pwd -P)
}

# [DIR] -> absolute path of an existing DIR, or empty.
existing_dir() {
  local dir="${1:-${LAMINA_PG_DIR:-$DEFAULT_DIR}}"
  if [ -d "$dir" ]; then (cd "$dir" && pwd -P); fi
}

# DIR -> its cluster's HOME (empty if DIR has no cluster yet).
cluster_home() {
  if [ -L "$1/pgdata" ]; then
    dirname "$(readlink "$1/pgdata")"
  elif [ -d "$1/pgdata" ]; then
    echo "$1"
  fi
}

cluster_major() { # HOME -> its PostgreSQL major (empty if no cluster)
  if [ -f "$1/pgdata/PG_VERSION" ]; then cat "$1/pgdata/PG_VERSION"; fi
}

# Run a command as the server's OS user (postgres when run as root), from / (postgres may not
# be allowed into the caller's working directory).
as_server() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

server_user() { if is_root; then echo postgres; else id -un; fi; }

# Relocated clusters whose DIR is gone (pytest removes its old temp dirs) or no longer links
# to them: stopped if running, then removed. Nobody can use them: their password was in DIR.
collect_orphans() {
  local home origin major
  [ -d "$RELOCATED" ] || return 0
  for home in "$RELOCATED"/*; do
    [ -f "$home/origin" ] || continue # absent while its start is under way
    origin="$(cat "$home/origin")"
    [ "$(readlink "$origin/pgdata" 2>/dev/null)" = "$home/pgdata" ] && continue
    major="$(cluster_major "$home")"
    if [ -n "$major" ] && [ -f "$home/pgdata/postmaster.pid" ]; then
      as_server "/usr/lib/postgresql/$major/bin/pg_ctl" -D "$home/pgdata" -m immediate -w stop \
        >/dev/null 2>&1 || true
    fi
    rm -rf "$home"
    log "removed $home, the cluster of $origin (gone)"
  done
}

# The server's user cannot reach DIR (a directory above it it may not search: /root, or
# pytest's /tmp/pytest-of-root, 700, which every new pytest session sets back to 700).
# HOME becomes $RELOCATED/<sha256 of DIR>, postgres's; DIR/pgdata and DIR/postgres.log link
# to it. Nothing outside DIR and $RELOCATED changes mode, owner or ACL.
relocate() { # DIR -> HOME
  local dir="$1" home
  if [ ! -d "$RELOCATED" ]; then
    mkdir -p "$RELOCATED"
    chmod 755 "$RELOCATED"
  fi
  if [ "$(stat -c '%u %A' "$RELOCATED")" != "0 drwxr-xr-x" ]; then
    die "$RELOCATED must be root's, mode 755 (it is $(stat -c '%U %A' "$RELOCATED")): fix or remove it"
  fi
  home="$RELOCATED/$(printf '%s' "$dir" | sha256sum | cut -c1-16)"
  rm -rf "$home" # a leftover of an earlier DIR of the same name
  mkdir -m 700 "$home"
  chown postgres:postgres "$home"
  chmod 700 "$dir"
  ln -s "$home/pgdata" "$dir/pgdata"
  ln -s "$home/postgres.log" "$dir/postgres.log"
  echo "$dir" >"$home/origin" # last: collect_orphans leaves HOME alone until then
  log "the postgres user cannot reach $dir: its cluster lives in $home (linked from $dir)"
  echo "$home"
}

# A new cluster's HOME: DIR (mode 700; as root, chowned to postgres), or relocate's.
new_home() { # DIR -> HOME
  local dir="$1"
  if ! is_root; then
    chmod 700 "$dir"
    echo "$dir"
    return
  fi
  id postgres >/dev/null 2>&1 || die "no \`postgres\` user: is Debian's postgresql-common installed?"
  if as_server test -x "$(dirname "$dir")" 2>/dev/null; then
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
    echo "$dir"
  else
    relocate "$dir"
  fi
}

running() { # PGDATA: true if a server runs on it; dies if pg_ctl cannot tell
  local rc=0
  [ -f "$1/postmaster.pid" ] || return 1
  as_server "$PG_BIN/pg_ctl" -D "$1" status >/dev/null 2>&1 || rc=$?
  case "$rc" in
    0) return 0 ;;
    3) return 1 ;;
    *) die "pg_ctl status -D $1 failed (exit $rc): can the $(server_user) user reach it?" ;;
  esac
}

# The port: the running server's (postmaster.pid, line 4), else the one last configured.
cluster_port() { # PGDATA
  if running "$1"; then
    sed -n 4p "$1/postmaster.pid"
  else
    sed -n "s/^port = \([0-9][0-9]*\)$/\1/p" "$1/lamina.conf" 2>/dev/null | tail -n1
  fi
}

print_dsn() { # DIR HOME
  local port password
  [ -s "$1/password" ] || die "no $1/password: start the cluster (infra/local/postgres.sh start $1)"
  password="$(cat "$1/password")"
  port="$(cluster_port "$2/pgdata")"
  [ -n "$port" ] || die "cannot tell the port of the cluster in $2/pgdata"
  echo "postgresql://$ROLE:$password@127.0.0.1:$port/$DATABASE"
}

# The settings rewritten at every start (included by postgresql.conf).
write_settings() { # HOME PORT
  local home="$1" port="$2" dsm=posix shm_mb workers
  # pgvector's parallel HNSW build holds its graph (up to maintenance_work_mem) in dynamic
  # shared memory: /dev/shm, which containers often keep at 64MB. Files in pgdata otherwise.
  shm_mb="$(df -Pm /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')"
  if [ -z "$shm_mb" ] || [ "$shm_mb" -lt 1024 ]; then dsm=mmap; fi
  workers=$(($(nproc) - 1)) # the leader builds too
  cat >"$home/pgdata/lamina.conf" <<CONF
# Written by infra/local/postgres.sh at every start (docs/postgres.md): edit the script.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$home'
password_encryption = 'scram-sha-256'
max_connections = 50
shared_buffers = '256MB'
work_mem = '16MB'
maintenance_work_mem = '512MB'
max_parallel_maintenance_workers = $workers
dynamic_shared_memory_type = $dsm
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  chown "$(server_user)": "$home/pgdata/lamina.conf"
  chmod 600 "$home/pgdata/lamina.conf"
}

init_cluster() { # HOME
  local pgdata="$1/pgdata"
  if [ -d "$pgdata" ] && [ -n "$(ls -A "$pgdata")" ]; then
    die "$pgdata is not empty but holds no cluster (no PG_VERSION): remove it to start afresh"
  fi
  log "initdb $pgdata (PostgreSQL $PG_MAJOR)"
  as_server "$PG_BIN/initdb" -D "$pgdata" --encoding=UTF8 --locale=C.UTF-8 --lc-collate=C \
    --auth-local=peer --auth-host=scram-sha-256 --no-instructions >&2 \
    || die "initdb failed (output above)"
  cat >"$pgdata/pg_hba.conf" <<'HBA'
# Written by infra/local/postgres.sh (docs/postgres.md): the server's OS user over the unix
# socket (peer); everyone else by password, over 127.0.0.1 only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 peer
host    all       all   127.0.0.1/32  scram-sha-256
HBA
  printf "\n# lamina: infra/local/postgres.sh's settings\ninclude_if_exists = 'lamina.conf'\n" \
    >>"$pgdata/postgresql.conf"
}

# Role lamina (password DIR/password, not a superuser), database lamina owned by it, and the
# vector extension in it. Idempotent; marked done by pgdata/lamina.bootstrapped.
bootstrap() { # DIR HOME PORT
  local dir="$1" home="$2" port="$3" password
  if [ ! -s "$dir/password" ]; then
    (
      umask 077
      od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/password.tmp"
    )
    mv "$dir/password.tmp" "$dir/password"
  fi
  chmod 600 "$dir/password"
  password="$(cat "$dir/password")"
  [[ "$password" =~ ^[0-9a-f]+$ ]] || die "$dir/password must hold hex digits only"
  log "creating role $ROLE, database $DATABASE and extension vector"
  # The password goes through stdin, never a command line.
  as_server "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$home" -p "$port" -U "$(server_user)" \
    -d postgres >&2 <<SQL || die "creating the role, database or extension failed (output above)"
SELECT 'CREATE ROLE $ROLE LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')\gexec
ALTER ROLE $ROLE WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$password';
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE')\gexec
\connect $DATABASE
CREATE EXTENSION IF NOT EXISTS vector;
SQL
  as_server touch "$home/pgdata/lamina.bootstrapped"
}

start() { # [DIR] [PORT]
  local dir home port pgdata asked_port="${2:-${LAMINA_PG_PORT:-}}" socket current
  port="${asked_port:-$DEFAULT_PORT}"
  if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    die "PORT must be a TCP port number, not '$port'"
  fi
  dir="$(resolve_dir "${1:-}")"
  home="$(cluster_home "$dir")"
  if [ -L "$dir/pgdata" ] && [ ! -d "$home" ]; then
    log "$home, where $dir's cluster lived, is gone: creating a new cluster"
    rm -f "$dir/pgdata" "$dir/postgres.log"
    home=""
  fi
  # An existing cluster keeps its major; a new one gets the installed (or Debian's) server.
  ensure_installed "$(if [ -n "$home" ]; then cluster_major "$home"; fi)" >&2
  if is_root; then collect_orphans; fi
  [ -n "$home" ] || home="$(new_home "$dir")"
  pgdata="$home/pgdata"
  socket="$home/.s.PGSQL.$port"
  [ ${#socket} -le 107 ] || die "the socket path $socket is longer than 107 bytes: choose a shorter DIR"

  if [ -f "$pgdata/PG_VERSION" ] && running "$pgdata"; then
    current="$(cluster_port "$pgdata")"
    if [ -n "$asked_port" ] && [ "$asked_port" != "$current" ]; then
      log "WARNING: the cluster in $dir already runs on port $current, not $asked_port (stop it first to change the port)"
    else
      log "already running: $dir (PostgreSQL $PG_MAJOR, 127.0.0.1:$current)"
    fi
    port="$current"
  else
    [ -f "$pgdata/PG_VERSION" ] || init_cluster "$home"
    write_settings "$home" "$port"
    log "starting PostgreSQL $PG_MAJOR: $pgdata on 127.0.0.1:$port (log: $home/postgres.log)"
    if ! as_server "$PG_BIN/pg_ctl" -D "$pgdata" -l "$home/postgres.log" -w -t 120 start >&2; then
      tail -n 20 "$home/postgres.log" >&2 2>/dev/null || true
      die "PostgreSQL did not start (the end of $home/postgres.log is above)"
    fi
    as_server "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 \
      || die "PostgreSQL started but does not answer on 127.0.0.1:$port"
  fi
  if [ ! -f "$pgdata/lamina.bootstrapped" ] || [ ! -s "$dir/password" ]; then
    bootstrap "$dir" "$home" "$port"
  fi
  print_dsn "$dir" "$home"
}

# Sets CLUSTER_HOME and PG_BIN for the cluster in DIR; dies if DIR has none.
use_cluster() { # DIR
  local major=""
  CLUSTER_HOME="$(cluster_home "$1")"
  if [ -n "$CLUSTER_HOME" ]; then major="$(cluster_major "$CLUSTER_HOME")"; fi
  [ -n "$major" ] || die "no cluster in $1 (start one: infra/local/postgres.sh start $1)"
  PG_BIN="/usr/lib/postgresql/$major/bin"
  [ -x "$PG_BIN/pg_ctl" ] || die "$PG_BIN/pg_ctl not found: the cluster in $1 is PostgreSQL $major"
}

stop() { # [DIR]
  local dir
  dir="$(existing_dir "${1:-}")"
  if [ -z "$dir" ] || [ -z "$(cluster_home "$dir")" ] \
    || [ -z "$(cluster_major "$(cluster_home "$dir")")" ]; then
    log "no cluster in ${dir:-${1:-${LAMINA_PG_DIR:-$DEFAULT_DIR}}}: nothing to stop"
    return
  fi
  use_cluster "$dir"
  if ! running "$CLUSTER_HOME/pgdata"; then
    log "not running: $dir"
    return
  fi
  as_server "$PG_BIN/pg_ctl" -D "$CLUSTER_HOME/pgdata" -m fast -w -t 60 stop >&2 \
    || die "pg_ctl stop failed (see $CLUSTER_HOME/postgres.log)"
}

dsn() { # [DIR]
  local dir
  dir="$(existing_dir "${1:-}")"
  [ -n "$dir" ] || die "no cluster in ${1:-${LAMINA_PG_DIR:-$DEFAULT_DIR}} (start one: infra/local/postgres.sh start)"
  use_cluster "$dir"
  print_dsn "$dir" "$CLUSTER_HOME"
}

case "${1:-}" in
  install)
    [ $# -eq 1 ] || usage
    ensure_installed "" >&2
    log "PostgreSQL $PG_MAJOR ($PG_BIN) with pgvector $PGVECTOR_VERSION is installed"
    ;;
  start)
    [ $# -le 3 ] || usage
    start "${2:-}" "${3:-}"
    ;;
  dsn)
    [ $# -le 2 ] || usage
    dsn "${2:-}"
    ;;
  stop)
    [ $# -le 2 ] || usage
    stop "${2:-}"
    ;;
  *) usage ;;
esac
