"""Real Milvus servers for the test suite: Milvus Lite servers and the Milvus standalone.

Plain Python (no Django) so engine tests, Django tests and benchmarks share it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from console.clusters.lite_process import HOST, free_port, port_open, start_lite, stop_process
from tests import milvus_versions
from tests.milvus_versions import INSTALLED

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
    version: str = INSTALLED

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


def take_standalone_lock():
    """The machine's standalone lock (an open file, held until closed); RuntimeError when
    another standalone or etcd holds the embedded etcd's port anyway."""
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
    return lock


def start_standalone(version: str = INSTALLED, *, lock=None) -> Standalone:
    """A Milvus standalone of `version` (PyPI `milvus`, tests/milvus_versions.py) with
    authorization on, on free loopback ports. It takes the machine's standalone lock unless the
    caller holds it already (`lock`: then the caller keeps and closes it). Raises Unavailable
    when that version is not installed."""
    module = milvus_versions.load(version) if version != INSTALLED else _installed()
    package_data = Path(module.__file__).parent / "data"
    own_lock = lock is None
    if own_lock:
        lock = take_standalone_lock()
    base_dir = Path(tempfile.mkdtemp(prefix="milvus-standalone-"))
    # The packaged template leaves each component's `ip:` empty, which makes Milvus advertise
    # (and talk to itself over) the machine's first non-loopback address. Pin it to loopback.
    # Milvus 2.3 still *listens* on all interfaces; no setting of that version changes it.
    # (Templates before 2.3.5 have no `ip:` lines: those releases advertise that address.)
    template = re.sub(
        r"^(\s+)ip: #.*$",
        r"\1ip: 127.0.0.1",
        (package_data / "config.yaml.template").read_text(),
        flags=re.M,
    )
    template_path = base_dir / "config.yaml.template"
    template_path.write_text(template)
    config = module.MilvusServerConfig(template=str(template_path))
    if (package_data / "glog.conf").exists():
        config.glog_conf_file = str(package_data / "glog.conf")
    server = module.MilvusServer(config, wait_for_started=False)
    server.set_base_dir(str(base_dir))
    _share_binaries(base_dir, version)
    server.config.set("authorization_enabled", True)
    server.listen_port = free_port()
    try:
        server.start()
        server.wait_started(timeout=180_000)  # 2.2's own default (30 s) is short on a busy box
        _wait_answering(server.listen_port)
    except BaseException:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
        if own_lock:
            lock.close()
        raise
    return Standalone(
        port=server.listen_port,
        server=server,
        base_dir=base_dir,
        lock=lock if own_lock else None,
        version=version,
    )


def _wait_answering(port: int, timeout: float = 120) -> None:
    """wait_started sees the port open; a 2.2 proxy may refuse the Milvus protocol for a while
    after ("not a Milvus server"): connect as the tests will, until it answers."""
    from migrations_app.engine.connect import connect
    from migrations_app.engine.errors import EngineError, ServerTooOld

    deadline = time.monotonic() + timeout
    while True:
        try:
            connect(f"http://{HOST}:{port}", token="root:Milvus").close()
            return
        except ServerTooOld:  # 2.2.8 answers, to say it is too old: that is its answer
            return
        except EngineError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _installed():
    import milvus

    return milvus


def _share_binaries(base_dir: Path, version: str) -> None:
    """Each start unpacks the wheel's lzma binaries (hundreds of MB, seconds of CPU) into
    <base_dir>/bin unless their checksums show them unpacked already: point that directory at
    one kept per version, so only a version's first start unpacks. Written only under the
    machine's standalone lock."""
    shared = milvus_versions.ROOT / version / "unpacked"
    shared.mkdir(parents=True, exist_ok=True)
    (base_dir / "bin").symlink_to(shared, target_is_directory=True)


class StandaloneHost:
    """The one standalone a test process runs at a time, of whichever version a test asks for.

    It takes the machine's lock at its first start and keeps it until `close()`, so switching
    versions never lets another process in between (their embedded etcds share ports)."""

    def __init__(self) -> None:
        self.lock = None
        self.current: Standalone | None = None

    def run(self, version: str = INSTALLED) -> Standalone:
        """The running standalone of `version`, started (the one running stopped) if needed."""
        if self.current is not None and self.current.version == version:
            return self.current
        if self.lock is None:
            self.lock = take_standalone_lock()
        if self.current is not None:
            self.current.stop()
            self.current = None
        self.current = start_standalone(version, lock=self.lock)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None
        if self.lock is not None:
            self.lock.close()
            self.lock = None
