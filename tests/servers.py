"""Real Milvus servers for the test suite: Milvus Lite servers and the Milvus standalone.

Plain Python (no Django) so engine tests, Django tests and benchmarks share it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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

    def freeze(self) -> None:
        """SIGSTOP the server's process group and return once every process of it is stopped
        and nothing else listens on its port (gRPC servers bind with SO_REUSEPORT: a second
        server on the port would answer for the frozen one)."""
        os.killpg(self.proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not all(state == "T" for state in _group_states(self.proc.pid)):
            assert time.monotonic() < deadline, f"milvus-lite on port {self.port} did not stop"
            time.sleep(0.01)
        listeners = _listeners(self.port)
        assert listeners == 1, f"{listeners} servers listen on port {self.port}, not only this one"

    def thaw(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)


def _group_states(pgid: int) -> list[str]:
    """The state letter (ps STAT) of every live process of process group `pgid`."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid:
            states.append(fields[0])
    return states


def _listeners(port: int) -> int:
    """How many sockets listen on TCP `port` (any address), from /proc/net/tcp{,6}."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count


def start_lite_server(base_dir: Path) -> LiteServer:
    """A Milvus Lite server alone on its port: one that finds another server listening there
    beside it (gRPC binds with SO_REUSEPORT) is stopped and started again on another port."""
    for _ in range(3):
        port = free_port()
        data_dir = Path(base_dir) / f"lite-{port}"
        proc = start_lite(data_dir, port, log_path=Path(base_dir) / f"lite-{port}.log")
        if _listeners(port) == 1:
            return LiteServer(port=port, data_dir=data_dir, proc=proc)
        stop_process(proc)
    raise RuntimeError("three Milvus Lite servers in a row shared their port with another server")


# Held while a standalone whose embedded etcd binds the default ports (127.0.0.1:2379/2380) runs,
# so test runs on one machine (two checkouts, a benchmark) take turns instead of failing. A
# standalone given an etcd config of its own (`_isolate_etcd`) needs no turn.
# A standalone starts in ~8 s here; 2.2 took far longer on a busy box. One that did not start
# is started once more (start_standalone).
START_TIMEOUT = 150
START_ATTEMPTS = 2
STANDALONE_LOCK = Path(os.environ.get("MILVUS_STANDALONE_LOCK", "/tmp/milvus-standalone.lock"))
# Releases whose embedded etcd reads `etcd.config.path` (tried: a second one started beside a
# first, both answering). The others bind the default ports whatever the config says.
ISOLATED_ETCD = {INSTALLED}


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


def needs_lock(version: str) -> bool:
    """Whether a standalone of `version` binds the embedded etcd's default ports."""
    return version not in ISOLATED_ETCD


def take_standalone_lock():
    """The machine's standalone lock (an open file, held until closed); RuntimeError when
    another standalone or etcd holds the embedded etcd's port anyway."""
    lock = STANDALONE_LOCK.open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    # A second standalone on etcd's default port would hang for minutes before failing: say
    # why at once.
    if port_open(ETCD_PEER_PORT):
        lock.close()
        raise RuntimeError(
            f"another Milvus standalone (or etcd) already holds 127.0.0.1:{ETCD_PEER_PORT}; "
            "only one such can run on a machine at a time"
        )
    return lock


def start_standalone(version: str = INSTALLED, *, lock=None) -> Standalone:
    """A Milvus standalone of `version` (PyPI `milvus`, tests/milvus_versions.py) with
    authorization on, on free loopback ports. A release whose embedded etcd binds its default
    ports takes the machine's standalone lock unless the caller holds it already (`lock`: then
    the caller keeps and closes it). Raises Unavailable when that version is not installed."""
    module = milvus_versions.load(version) if version != INSTALLED else _installed()
    package_data = Path(module.__file__).parent / "data"
    own_lock = lock is None and needs_lock(version)
    if own_lock:
        lock = take_standalone_lock()
    try:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                server, base_dir = _start_once(module, package_data, version)
                break
            except StandaloneDidNotStart as failed:
                # Seen once in a whole run (2026-12-01), its logs removed with its directory:
                # say what it logged, then start again on fresh ports in a fresh directory.
                print(f"Milvus {version} standalone, attempt {attempt}: {failed}", file=sys.stderr)
                if attempt == START_ATTEMPTS:
                    raise
    except BaseException:
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


class StandaloneDidNotStart(RuntimeError):
    """A standalone that did not answer in time; the message ends with its logs' last lines."""


def _start_once(module, package_data: Path, version: str):
    """One try at starting a standalone: (server, base_dir), or StandaloneDidNotStart (the
    server stopped and its directory removed) with the tail of its logs."""
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
    if not needs_lock(version):
        template = _isolate_etcd(template, base_dir)
    template_path = base_dir / "config.yaml.template"
    template_path.write_text(template)
    config = module.MilvusServerConfig(template=str(template_path))
    if (package_data / "glog.conf").exists():
        config.glog_conf_file = str(package_data / "glog.conf")
    server = module.MilvusServer(config, wait_for_started=False)
    server.set_base_dir(str(base_dir))
    server.config.set("authorization_enabled", True)
    server.listen_port = free_port()
    try:
        with _starting():
            _share_binaries(base_dir, version)
            server.start()
            # 2.2's own default (30 s) is short on a busy box.
            server.wait_started(timeout=START_TIMEOUT * 1000)
            _wait_answering(server.listen_port)
    except TimeoutError as error:
        tail = _log_tail(base_dir)
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
        raise StandaloneDidNotStart(f"{error}; its logs end with:\n{tail}") from error
    except BaseException:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
        raise
    return server, base_dir


def _log_tail(base_dir: Path, lines: int = 25) -> str:
    parts = []
    for name in ("milvus-stderr.log", "milvus-stdout.log"):
        path = base_dir / "logs" / name
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {name}\n" + "\n".join(text))
    return "\n".join(parts) or "(no logs)"


def _isolate_etcd(template: str, base_dir: Path) -> str:
    """The template with an embedded etcd config of its own: free loopback ports instead of
    2379/2380, so this standalone runs beside others."""
    peer, client = free_port(), free_port()
    config = base_dir / "embedEtcd.yaml"
    config.write_text(
        f"listen-peer-urls: http://{HOST}:{peer}\n"
        f"initial-advertise-peer-urls: http://{HOST}:{peer}\n"
        f"initial-cluster: default=http://{HOST}:{peer}\n"
        f"listen-client-urls: http://{HOST}:{client}\n"
        f"advertise-client-urls: http://{HOST}:{client}\n"
    )
    embed = "  use:\n    embed: true"
    if embed not in template:
        raise RuntimeError("this Milvus release's config template has no embedded etcd section")
    return template.replace(embed, f"{embed}\n  config:\n    path: {config}", 1)


@contextmanager
def _starting() -> Iterator[None]:
    """One process of the machine at a time unpacks (or checks) a release's shared binaries and
    starts it: the milvus package picks its free ports before the server binds them, so two
    standalones starting together could pick the same."""
    with Path(f"{STANDALONE_LOCK}.start").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


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
        except ServerTooOld as exc:
            # 2.2.8 answers, to say it is too old: that is its answer once it names its
            # release (a proxy still starting answers GetVersion without one).
            if exc.message.startswith("Milvus ") or time.monotonic() > deadline:
                return
            time.sleep(1)
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
    machine's start lock (_starting)."""
    shared = milvus_versions.ROOT / version / "unpacked"
    shared.mkdir(parents=True, exist_ok=True)
    (base_dir / "bin").symlink_to(shared, target_is_directory=True)


class StandaloneHost:
    """The one standalone a test process runs at a time, of whichever version a test asks for.

    It takes the machine's lock at the first start of a release that needs it (needs_lock) and
    keeps it until `close()`, so switching versions never lets another process in between."""

    def __init__(self) -> None:
        self.lock = None
        self.current: Standalone | None = None

    def run(self, version: str = INSTALLED) -> Standalone:
        """The running standalone of `version`, started (the one running stopped) if needed."""
        if self.current is not None and self.current.version == version:
            return self.current
        if self.lock is None and needs_lock(version):
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
