#!/usr/bin/env bash
# Fetch Debian's `pgvector` source package (suite trixie) with apt, using a temporary
# sources list and lists directory so the system's own apt sources are never touched,
# and build it against PostgreSQL 15. The archive URI and keyring come from the machine's
# own debian.sources entry, so no host name is written into the repository.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SUITE=${PGVECTOR_SUITE:-trixie}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

sources=/etc/apt/sources.list.d/debian.sources
uri=""; keyring=""
if [ -f "$sources" ]; then
  # First stanza whose Suites name the release itself (not -security).
  read -r uri keyring < <(awk '
    /^$/ { if (u != "" && main) { print u, k; exit } u=""; k=""; main=0; next }
    /^URIs:/ { u=$2 }
    /^Signed-By:/ { k=$2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-/) main=1 }
    END { if (u != "" && main) print u, k }' "$sources" | head -n 1)
fi
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
  echo "build_pgvector: cannot find the Debian archive URI in the machine's apt sources" >&2
  exit 1
fi
keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/src"
echo "deb-src [signed-by=$keyring] $uri $SUITE main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=/dev/null"
          -o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0")
$SUDO apt-get "${apt_opts[@]}" update -qq
chmod 777 "$work/src"
(cd "$work/src" && $SUDO apt-get "${apt_opts[@]}" source --download-only pgvector)
dsc=$(ls "$work"/src/pgvector_*.dsc | head -n 1)
(cd "$work/src" && dpkg-source -x "$dsc" pgvector >/dev/null)
make -C "$work/src/pgvector" PG_CONFIG="$PG_CONFIG" -j"$(nproc)" >/dev/null
$SUDO make -C "$work/src/pgvector" PG_CONFIG="$PG_CONFIG" install >/dev/null
echo "build_pgvector: installed $(basename "$dsc" .dsc)"
