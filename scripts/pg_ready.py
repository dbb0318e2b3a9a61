#!/usr/bin/env python3
"""Prepare the PostgreSQL run of the test suite.

Exit 0 and print a DATABASE_URL when PostgreSQL answers on PG_HOST:PG_PORT (default
127.0.0.1:5432): the database PG_TEST_DB (default console_test) exists and the role may create
databases (pytest-django creates test_<name> next to it). Exit 3 when nothing answers there
(the PostgreSQL run is skipped). Exit 1 with a clear message when it answers but cannot be used.
"""

from __future__ import annotations

import os
import socket
import sys

HOST = os.environ.get("PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("PG_PORT", "5432"))
USER = os.environ.get("PG_USER", "postgres")
DB = os.environ.get("PG_TEST_DB", "console_test")


def main() -> int:
    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
    except OSError:
        return 3
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(
            host=HOST, port=PORT, user=USER, dbname="postgres", autocommit=True, connect_timeout=5
        ) as conn:
            can_create = conn.execute(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()[0]
            if not can_create:
                print(
                    f"PostgreSQL role {USER} may not create databases: run "
                    f"ALTER ROLE {USER} CREATEDB; as a superuser",
                    file=sys.stderr,
                )
                return 1
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    except psycopg.Error as exc:
        print(
            f"PostgreSQL answers on {HOST}:{PORT} but cannot be used as {USER}: {str(exc).strip()}",
            file=sys.stderr,
        )
        return 1
    print(f"postgres://{USER}@{HOST}:{PORT}/{DB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
