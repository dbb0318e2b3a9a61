"""Real Milvus servers for the test suite: Milvus Lite servers and the Milvus standalone.

Plain Python (no Django) so engine tests, Django tests and benchmarks share it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from console.clusters.lite_process import HOST, free_port, port_open, start_lite, stop_process

STANDALONE_USER = "root"
STANDALONE_PASSWORD = "Milvus"
ETCD_PEER_PORT = 2380


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

    def answers(self) -> bool:
        return port_open(self.port)


def start_lite_server(base_dir: Path) -> LiteServer:
    port = free_port()
    data_dir = Path(base_dir) / f"lite-{port}"
    proc = start_lite(data_dir, port, log_path=Path(base_dir) / f"lite-{port}.log")
    return LiteServer(port=port, data_dir=data_dir, proc=proc)


# Held while a standalone runs: its embedded etcd always binds 127.0.0.1:2380, so test runs on
# one machine (two checkouts, a benchmark) take turns instead of failing.
STANDALONE_LOCK = Path(os.environ.get("MILVUS_STANDALONE_LOCK", "/tmp/milvus-standalone.lock"))


@dataclass
class Standalone:
    port: int
    server: object = field(repr=False)
    base_dir: Path
    lock: object = field(repr=False, default=None)

    @property
    def uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def token(self) -> str:
        return f"{STANDALONE_USER}:{STANDALONE_PASSWORD}"

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()


def start_standalone() -> Standalone:
    """Milvus 2.3 standalone (PyPI `milvus`) with authorization on, on free loopback ports."""
    import milvus
    from milvus import MilvusServer, MilvusServerConfig

    lock = STANDALONE_LOCK.open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    # The embedded etcd always binds 127.0.0.1:2380 whatever the config says, so a second
    # standalone on this machine would hang for minutes before failing: say why at once.
    if port_open(ETCD_PEER_PORT):
        lock.close()
        raise RuntimeError(
            f"another Milvus standalone (or etcd) already holds 127.0.0.1:{ETCD_PEER_PORT}; "
            "only one can run on a machine at a time"
        )

    base_dir = Path(tempfile.mkdtemp(prefix="milvus-standalone-"))
    # The packaged template leaves each component's `ip:` empty, which makes Milvus advertise
    # (and talk to itself over) the machine's first non-loopback address. Pin it to loopback.
    # Milvus 2.3 still *listens* on all interfaces; no setting of that version changes it.
    package_data = Path(milvus.__file__).parent / "data"
    template = re.sub(
        r"^(\s+)ip: #.*$",
        r"\1ip: 127.0.0.1",
        (package_data / "config.yaml.template").read_text(),
        flags=re.M,
    )
    template_path = base_dir / "config.yaml.template"
    template_path.write_text(template)
    config = MilvusServerConfig(template=str(template_path))
    config.glog_conf_file = str(package_data / "glog.conf")
    server = MilvusServer(config)
    server.set_base_dir(str(base_dir))
    server.config.set("authorization_enabled", True)
    server.listen_port = free_port()
    try:
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
        lock.close()
        raise
    return Standalone(port=server.listen_port, server=server, base_dir=base_dir, lock=lock)
