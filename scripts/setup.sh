#!/usr/bin/env bash
# Idempotent machine set-up for Creative Genome (Debian bookworm / Ubuntu, root or sudo).
# Installs only what is missing: a second run touches neither apt nor the pgvector build.
set -euo pipefail

PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT_DIR/.venv}
PYTHON=${PYTHON:-python3}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEB_PACKAGES=(
  postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR} postgresql-${PG_MAJOR}-cron
  postgresql-plpython3-${PG_MAJOR} python3-numpy python3-scipy python3-sklearn
  # The joint learner pins numpy to one BLAS thread a call (docs/learning.md#performance).
  python3-threadpoolctl
  build-essential dpkg-dev fonts-dejavu-core
  # The dashboard's browser test drives Debian's headless Chromium through chromedriver.
  chromium chromium-driver
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian's postgresql-common creates and starts a system cluster on port 5432; the project
  # never uses it, so it is left as Debian made it.
else
  echo "setup: Debian packages present"
fi

SHAREDIR=$("$PG_CONFIG" --sharedir)
if [ ! -f "$SHAREDIR/extension/vector.control" ]; then
  echo "setup: building pgvector from Debian's source package (suite trixie)"
  "$ROOT_DIR/scripts/build_pgvector.sh"
else
  echo "setup: pgvector present"
fi

stamp="$VENV/.genome-installed"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$stamp" ] || [ "$ROOT_DIR/pyproject.toml" -nt "$stamp" ]; then
  echo "setup: creating virtualenv $VENV"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # The bench extra too: the test suite smoke-runs every benchmark against its alternative.
  "$VENV/bin/pip" install -q -e "$ROOT_DIR[dev,bench]"
  # gbstats (GrowthBook's engine, a benchmark alternative) pins pandas<2; what the
  # benchmark uses of it runs on pandas 2, so it is installed without its pins.
  "$VENV/bin/pip" install -q --no-deps gbstats
  touch "$stamp"
else
  echo "setup: virtualenv up to date"
fi
