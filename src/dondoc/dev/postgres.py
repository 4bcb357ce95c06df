"""PostgreSQL: the server in DATABASE_URL if given, else a cluster private to the project."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dondoc.dev.errors import StackError
from dondoc.dev.process import alive, port_accepts, require_free_port, tail

SUPERUSER = "dondoc"


@dataclass(frozen=True)
class PostgresConfig:
    state_dir: Path
    port: int = 55432
    database_url: str | None = None
    databases: tuple[str, ...] = ("dondoc",)
    start_timeout: float = 60.0


def find_pg_bin() -> Path | None:
    """The bin directory of the newest PostgreSQL installed from Debian's packages."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def install_postgres() -> Path:
    """apt-get install postgresql (the server binaries only; Debian's own cluster is not used)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(
            "PostgreSQL is not installed",
            "install Debian's package (sudo apt-get install postgresql), "
            "or point DATABASE_URL at a server you run",
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900,
                                check=False)
        if result.returncode != 0:
            raise StackError("installing PostgreSQL with apt-get failed",
                             "install it yourself: apt-get install postgresql",
                             result.stdout[-2000:] + result.stderr[-2000:])
    found = find_pg_bin()
    if found is None:
        raise StackError("apt-get installed postgresql but no pg_ctl was found",
                         "look under /usr/lib/postgresql")
    return found


class PostgresCluster:
    name = "postgres"

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self.home = config.state_dir / "postgres"
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self._data_dir: Path | None = None

    @property
    def external(self) -> bool:
        return bool(self.config.database_url)

    @property
    def url(self) -> str:
        if self.config.database_url:
            return self.config.database_url
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.config.port}/dondoc"

    def url_for(self, database: str) -> str:
        base, _, _ = self.url.rpartition("/")
        return f"{base}/{database}"

    def address(self) -> str:
        return self.url

    @property
    def data_dir(self) -> Path:
        """The cluster's files; when run as root, in a place the postgres user can reach."""
        if self._data_dir is None:
            pointer = self.home / "data-dir"
            if pointer.exists():
                self._data_dir = Path(pointer.read_text().strip())
            else:
                self._data_dir = self._choose_data_dir()
                self.home.mkdir(parents=True, exist_ok=True)
                pointer.write_text(f"{self._data_dir}\n")
        return self._data_dir

    def _choose_data_dir(self) -> Path:
        preferred = self.home / "data"
        if self.run_as is None or self._reachable_by_run_as(preferred.parent):
            return preferred
        digest = hashlib.sha256(str(self.config.state_dir.resolve()).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"dondoc-pg-{digest}" / "data"

    def _reachable_by_run_as(self, directory: Path) -> bool:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.chown(directory, self.run_as, self.run_as)
        return subprocess.run(["test", "-w", str(directory)], user=self.run_as,
                              check=False, timeout=30).returncode == 0

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  user=self.run_as, check=False, cwd="/")
        except subprocess.TimeoutExpired as e:
            raise StackError(f"`{' '.join(argv[:2])}` did not finish in {timeout:.0f} s",
                             "read the PostgreSQL log below", tail(self.log_file)) from e

    def running_pid(self) -> int | None:
        if self.external:
            return None
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid, "postgres") else None

    def start(self) -> str:
        if self.external:
            self._check_reachable()
            self._create_databases()
            return f"using DATABASE_URL ({_redact(self.url)})"
        if (pid := self.running_pid()) is not None:
            self._create_databases()
            return f"already running (pid {pid})"
        bin_dir = find_pg_bin() or install_postgres()
        require_free_port(self.config.port, "postgres", "DONDOC_POSTGRES_PORT")
        self._init_cluster(bin_dir)
        options = (f"-p {self.config.port} -c listen_addresses=127.0.0.1 "
                   "-c unix_socket_directories='' -c max_connections=200 -c fsync=on")
        if (bin_dir.parent / "lib" / "pg_stat_statements.so").exists():
            # loaded (not created in any database) so that an operator or
            # bench/commands.py --statements can ask which statements cost the time
            options += " -c shared_preload_libraries=pg_stat_statements"
        result = self._run(
            [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
             "-o", options, "-w", "-t", str(int(self.config.start_timeout)), "start"],
            timeout=self.config.start_timeout + 15,
        )
        if result.returncode != 0:
            raise StackError("PostgreSQL did not start", "read its log below",
                             result.stdout[-1500:] + "\n" + tail(self.log_file))
        self._create_databases()
        return f"ready on 127.0.0.1:{self.config.port} (data in {self.data_dir})"

    def _init_cluster(self, bin_dir: Path) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            for path in (self.data_dir.parent, self.data_dir):
                shutil.chown(path, self.run_as, self.run_as)
        os.chmod(self.data_dir, 0o700)
        # text compares in code-point order, as C.UTF-8 does, but by memcmp with abbreviated
        # keys: PostgreSQL sorts (keys, indexes) of C.UTF-8 through strcoll, about twice as
        # slow (docs/OPERATIONS.md, "The analytics database"); character classes stay UTF-8
        result = self._run(
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--lc-collate=C", "--no-instructions"],
            timeout=120,
        )
        if result.returncode != 0:
            raise StackError("initdb failed", f"remove {self.data_dir} and run again",
                             result.stdout[-1500:] + result.stderr[-1500:])

    def _check_reachable(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=10) as conn:
                conn.execute("select 1")
        except psycopg.Error as e:
            raise StackError(f"cannot connect to DATABASE_URL ({_redact(self.url)})",
                             "check the URL, the server and its pg_hba.conf", str(e)) from e

    def _create_databases(self) -> None:
        import psycopg
        from psycopg import sql

        admin_url = self.url_for("postgres")
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                for name in self.config.databases:
                    exists = conn.execute(
                        "select 1 from pg_database where datname = %s", (name,)
                    ).fetchone()
                    if not exists:
                        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        except psycopg.Error as e:
            if self.external:
                return  # an operator's server: databases are theirs to create
            raise StackError("cannot create the project's databases", "read the log below",
                             f"{e}\n{tail(self.log_file)}") from e

    def stop(self, timeout: float = 30.0) -> str:
        if self.external:
            return "external (DATABASE_URL), left running"
        pid = self.running_pid()
        if pid is None:
            return "not running"
        bin_dir = find_pg_bin()
        if bin_dir is not None:
            self._run([str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                       "-t", str(int(timeout)), "stop"], timeout=timeout + 15)
        from dondoc.dev.process import terminate

        terminate(pid, timeout=10, marker="postgres")
        return f"stopped (pid {pid})"

    def ready(self) -> bool:
        port = self.config.port
        return self.external or port_accepts(port)

    def log_files(self) -> list[Path]:
        return [] if self.external else [self.log_file]


def _redact(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"

