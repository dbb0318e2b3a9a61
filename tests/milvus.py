"""The MilvusClient tests open to look at, fill or change a server behind the console's back.

pymilvus' defaults ping every 10 s even on an idle channel and share one channel per address
and token for the whole process, never closed. The session's pooled Milvus Lite servers (and
the standalone) outlive a test, so such a channel, left idle by one test, draws GOAWAY
"too_many_pings" from the server, and the next test's client for that address, handed the same
channel, fails to connect with "Too many pings". Tests therefore get a channel of their own
with the pings the engine uses (migrations_app/engine/connect.py). ruff (TID251 in
pyproject.toml) keeps tests from using pymilvus' MilvusClient directly.
"""

from __future__ import annotations

import pymilvus

from migrations_app.engine.connect import GRPC_OPTIONS


class MilvusClient(pymilvus.MilvusClient):
    def __init__(self, uri: str = "http://localhost:19530", token: str = "", **kwargs) -> None:
        kwargs.setdefault("grpc_options", GRPC_OPTIONS)
        kwargs.setdefault("dedicated", True)
        super().__init__(uri=uri, token=token, **kwargs)
