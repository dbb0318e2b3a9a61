"""Secrets on the command line without putting them in the process list.

`--password PW` is visible to every user of the machine (`ps`), and stays in shell history.
Each secret option of the console's commands therefore also takes "-" (read one line from
standard input) and, when left out, an environment variable:

    printf '%s\n' "$PW" | manage.py create_organization Acme --owner a@acme.io --password -
    CONSOLE_PASSWORD=... manage.py add_member ...
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from django.core.management.base import CommandError

STDIN = "-"


def add_secret_argument(parser, flag: str, env: str, help: str) -> None:
    parser.add_argument(
        flag,
        default=None,
        help=f'{help}; "-" reads it from standard input; default: ${env}',
    )


def read_secret(
    value: str | None, env: str, stdin: TextIO | None = None, *, flag: str = "--password"
) -> str:
    """The secret from the option, standard input ("-") or the environment variable `env`."""
    if value == STDIN:
        line = (stdin or sys.stdin).readline()
        if not line:
            raise CommandError(f"{flag} -: standard input was empty")
        return line.rstrip("\r\n")
    if value is not None:
        return value
    return os.environ.get(env, "")
