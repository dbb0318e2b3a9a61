"""Rate limits, shared by every web process through the Redis cache.

Logins. Attempts are counted per account from one address (LOGIN_FAILURE_LIMIT) and per address
over all accounts (LOGIN_ADDRESS_FAILURE_LIMIT, for password spraying); never per account
alone, so one address hammering an account cannot lock its owner out at another address. The
address is the client's, not the reverse proxy's (`client_ip`, TRUSTED_PROXY_COUNT): otherwise
five bad passwords from anyone would lock everyone out.

Each attempt takes its place in the counts *before* the password is checked, with Redis' atomic
INCR: parallel attempts cannot all read "4 of 5" and all get a guess. A successful login gives
its place back and forgets only that account's count from that address; forgetting the
address's count too would let one address try a password on a victim after each login of its
own, forever.

django-axes was considered (the issue suggests it): its failure limit is one number for every
lockout parameter, so the per-address count could not be looser than the account+address one,
and with equal limits the account+address count never decides anything.

Connections to typed endpoints (`allow_connection_test`, `allow_connection`) are counted per
user: each one makes the server open a TCP connection somewhere a person chose, and the
different answers (refused, not a Milvus server, no answer) must not become a fast port
scanner. Every such connection counts: Test connection, Register, the wizard's Connect step, its
listings of a typed source, the name check against a typed target, and migrations whose source
(or target) is a typed endpoint, from the pages and the REST API alike.
"""

from __future__ import annotations

import hashlib
import ipaddress

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting X-Forwarded-For only as far as TRUSTED_PROXY_COUNT says.

    Each trusted proxy appends the address it received the request from, so the client is the
    entry the outermost trusted proxy wrote: the Nth from the right for N proxies. Entries
    further left were written by the client and are ignored. A request with fewer entries than
    proxies did not come through them all: its own peer address counts.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [h for h in hops if h]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote


def _keys(email: str, ip: str) -> tuple[str, str]:
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"login:account:{account}:{ip}", f"login:address:{ip}"


def _count(key: str, window: int) -> int:
    """Atomically add one to `key` (created with `window` seconds to live); the new count."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: the first of a new window
        cache.add(key, 1, timeout=window)
        return 1


def begin_login(email: str, ip: str) -> bool:
    """Count a login attempt; False when the account (from this address) or the address has
    used up its attempts for the window: do not check the password then."""
    account_key, address_key = _keys(email, ip)
    window = settings.LOGIN_FAILURE_WINDOW
    account = _count(account_key, window)
    address = _count(address_key, window)
    return (
        account <= settings.LOGIN_FAILURE_LIMIT and address <= settings.LOGIN_ADDRESS_FAILURE_LIMIT
    )


def login_succeeded(email: str, ip: str) -> None:
    """The attempt was not a failure: forget this account's count from this address and give
    the address back the place the attempt took (its other failures stay counted)."""
    account_key, address_key = _keys(email, ip)
    cache.delete(account_key)
    try:
        cache.decr(address_key)
    except ValueError:
        pass  # the window ended meanwhile


def reset(email: str, ip: str) -> None:
    """Forget every count of this account and address (an operator unlocking someone; tests)."""
    cache.delete_many(list(_keys(email, ip)))


def reset_connection_tests(user_id: int) -> None:
    cache.delete(f"connection-test:{user_id}")


# What a person (or an API client) reads when allow_connection_test said no.
TOO_MANY_CONNECTION_TESTS = "Too many connections to other servers: wait a minute and try again."


def allow_connection_test(user_id: int) -> bool:
    """Count one connection test for the user; False once they exceeded the limit in the window."""
    key = f"connection-test:{user_id}"
    return _count(key, settings.CONNECTION_TEST_WINDOW) <= settings.CONNECTION_TEST_LIMIT


def allow_connection(user_id: int, connection) -> bool:
    """`allow_connection_test` for a connection about to be opened: only typed endpoints
    (`console.connections.Connection.typed`) count; the console's own local clusters do not."""
    return not connection.typed or allow_connection_test(user_id)
