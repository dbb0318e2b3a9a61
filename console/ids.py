"""Public identifiers in Zilliz's shapes: org-…, proj-…, in01-<16 hex>, job-<20 alnum>."""

import secrets
import string

_ALNUM = string.ascii_lowercase + string.digits


def _alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def org_id() -> str:
    return f"org-{_alnum(20)}"


def project_id() -> str:
    return f"proj-{_alnum(20)}"


def cluster_id() -> str:
    return f"in01-{secrets.token_hex(8)}"


def job_id() -> str:
    return f"job-{_alnum(20)}"
