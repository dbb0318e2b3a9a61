"""Where and as whom: the one value every page, service, task and endpoint connects with.

A `Connection` is an endpoint plus an API key or a username and password. A Cluster row gives
one (`Cluster.connection()`); an *In Other Organization* job keeps its own, encrypted on the job
row. Clients are opened from it by `console.clients.open_client`, the only way the console
opens a Milvus client.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from console.crypto import decrypt_json, encrypt_json
from migrations_app.engine.endpoints import parse_endpoint
from migrations_app.engine.errors import EndpointRejected


@dataclass(frozen=True)
class Connection:
    """An endpoint and the credentials to use there (at most one of token / username).

    `typed` marks an endpoint a person typed (an external cluster, another organization's
    source): it is checked against the endpoint rules every time it is used, because what a
    host name resolves to can change after it was first accepted.
    """

    uri: str
    token: str = ""
    username: str = ""
    password: str = ""
    typed: bool = True

    def __repr__(self) -> str:  # never let a credential into a traceback or a log line
        return f"Connection(uri={self.uri!r}, auth={self.auth!r}, typed={self.typed})"

    __str__ = __repr__

    @property
    def auth(self) -> str:
        if self.token:
            return "API_KEY"
        if self.username:
            return "USER_PASSWORD"
        return "NONE"

    @property
    def pymilvus_token(self) -> str | None:
        """What pymilvus takes as `token`: the API key, "user:password", or None."""
        if self.token:
            return self.token
        if self.username:
            return f"{self.username}:{self.password}"
        return None

    def secrets(self) -> list[str]:
        """Every secret string of this connection, for redaction."""
        found = [s for s in (self.token, self.password) if s]
        if self.username and self.password:
            found.append(f"{self.username}:{self.password}")
        return found

    @property
    def address(self) -> str:
        """host:port, for people (no scheme, no credentials)."""
        try:
            return parse_endpoint(self.uri).address
        except EndpointRejected:
            return self.uri

    def encrypt(self) -> str:
        """The whole connection as Fernet ciphertext, for a database column."""
        return encrypt_json(asdict(self))

    @classmethod
    def decrypt(cls, text: str) -> Connection | None:
        data = decrypt_json(text)
        if not data or not data.get("uri"):
            return None
        known = {k: data[k] for k in ("uri", "token", "username", "password", "typed") if k in data}
        return cls(**known)

    def with_uri(self, uri: str) -> Connection:
        return Connection(uri, self.token, self.username, self.password, self.typed)
