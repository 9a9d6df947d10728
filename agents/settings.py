"""Where things are: the project root, the local cluster's paths and port, the database URL."""

from __future__ import annotations

import getpass
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("GENOME_PG_BIN", "/usr/lib/postgresql/15/bin"))
DEFAULT_DBNAME = "genome"


def project_root() -> Path:
    """The checkout this package runs from (GENOME_HOME overrides)."""
    env = os.environ.get("GENOME_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ClusterPaths:
    """The project-local cluster of one checkout: its files, socket and port."""

    root: Path

    @property
    def base(self) -> Path:
        return self.root / ".pg"

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    @property
    def port(self) -> int:
        # Each checkout gets its own port (and so its own socket file) from its path, so a
        # working copy and a fresh clone under test never meet. GENOME_PG_PORT overrides.
        env = os.environ.get("GENOME_PG_PORT")
        if env:
            return int(env)
        return 20000 + zlib.crc32(str(self.root).encode()) % 20000

    @property
    def superuser(self) -> str:
        # Run as root, the server runs as the `postgres` system user, whose name initdb
        # gives the bootstrap superuser; otherwise the caller's own name.
        return "postgres" if os.geteuid() == 0 else getpass.getuser()

    def url(self, dbname: str = DEFAULT_DBNAME, user: str | None = None) -> str:
        """The socket URL of database `dbname` as `user` (default: the superuser)."""
        user = user or self.superuser
        return f"postgresql://{user}@/{dbname}?host={self.socket_dir}&port={self.port}"


def local_cluster() -> ClusterPaths:
    return ClusterPaths(project_root())


# The dashboard's login role (db/functions/security/tenancy.sql): it owns nothing, so a
# table owner cannot trap its reads the way it could a superuser's (docs/security.md#roles).
DASHBOARD_ROLE = "genome_dashboard"


def dashboard_url(dbname: str = DEFAULT_DBNAME) -> str:
    """GENOME_DASHBOARD_URL when set, else the local cluster as the dashboard's role."""
    return os.environ.get("GENOME_DASHBOARD_URL") or local_cluster().url(dbname, DASHBOARD_ROLE)


def database_url(dbname: str = DEFAULT_DBNAME) -> str:
    """GENOME_DATABASE_URL when set (e.g. the existing app's database), else the local cluster."""
    return os.environ.get("GENOME_DATABASE_URL") or local_cluster().url(dbname)
