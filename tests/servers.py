"""Real Milvus servers for the test suite: Milvus Lite servers and the Milvus standalone.

Plain Python (no Django) so engine tests, Django tests and benchmarks share it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from console.clusters.lite_process import HOST, free_port, start_lite, stop_process

STANDALONE_USER = "root"
STANDALONE_PASSWORD = "Milvus"


@dataclass
class LiteServer:
    port: int
    data_dir: Path
    proc: object = field(repr=False)

    @property
    def uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)


def start_lite_server(base_dir: Path) -> LiteServer:
    port = free_port()
    data_dir = Path(base_dir) / f"lite-{port}"
    proc = start_lite(data_dir, port, log_path=Path(base_dir) / f"lite-{port}.log")
    return LiteServer(port=port, data_dir=data_dir, proc=proc)


@dataclass
class Standalone:
    port: int
    server: object = field(repr=False)
    base_dir: Path

    @property
    def uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def token(self) -> str:
        return f"{STANDALONE_USER}:{STANDALONE_PASSWORD}"

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)


def start_standalone() -> Standalone:
    """Milvus 2.3 standalone (PyPI `milvus`) with authorization on, on free loopback ports."""
    from milvus import MilvusServer

    base_dir = Path(tempfile.mkdtemp(prefix="milvus-standalone-"))
    server = MilvusServer()
    server.set_base_dir(str(base_dir))
    server.config.set("authorization_enabled", True)
    server.listen_port = free_port()
    server.start()
    return Standalone(port=server.listen_port, server=server, base_dir=base_dir)
