"""Where a service keeps its event store: one URL, PostgreSQL or SQLite.

`sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, `sqlite:///:memory:` and
`postgresql://user:password@host:port/database?schema=name` are understood; the URL is
turned into the environment the `eventsourcing` library reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class StoreURLError(ValueError):
    pass


@dataclass(frozen=True)
class StoreURL:
    kind: str  # "postgres" | "sqlite" | "memory"
    database: str
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    schema: str = ""

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme == "memory":
            return cls(kind="memory", database="")
        if scheme == "sqlite":
            path = unquote(parts.path)
            if path in ("/:memory:", ":memory:"):
                return cls(kind="sqlite", database=":memory:")
            if not path.startswith("/") or path == "/":
                raise StoreURLError(f"{url!r}: a sqlite URL needs a file path")
            # sqlite:///rel.db → "rel.db"; sqlite:////abs.db → "/abs.db" (SQLAlchemy's rule)
            return cls(kind="sqlite", database=path[1:])
        if scheme in ("postgres", "postgresql"):
            database = unquote(parts.path.lstrip("/"))
            if not database:
                raise StoreURLError(f"{url!r}: a postgresql URL needs a database name")
            query = parse_qs(parts.query)
            return cls(
                kind="postgres",
                database=database,
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                schema=query.get("schema", [""])[0],
            )
        raise StoreURLError(f"{url!r}: unsupported store (use postgresql:// or sqlite:///)")

    def eventsourcing_env(self, *, originator_id_type: str = "uuid") -> dict[str, str]:
        """The settings `eventsourcing.Application(env=...)` takes for this store."""
        if self.kind == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.kind == "sqlite":
            if self.database != ":memory:":
                Path(self.database).parent.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": self.database,
                "SQLITE_LOCK_TIMEOUT": "30",
                "ORIGINATOR_ID_TYPE": originator_id_type,
            }
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.database,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            "ORIGINATOR_ID_TYPE": originator_id_type,
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env

    def sqlalchemy_url(self) -> str:
        """The same store for SQLAlchemy (read models, tracking tables)."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.database}"
        if self.kind == "postgres":
            auth = self.user + (f":{self.password}" if self.password else "")
            at = f"{auth}@" if auth else ""
            return f"postgresql+psycopg://{at}{self.host}:{self.port}/{self.database}"
        raise StoreURLError("an in-memory store has no SQL URL")
