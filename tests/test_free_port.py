"""free_port: no two processes of the machine are given the same port within two minutes
(gRPC servers bind with SO_REUSEPORT, so a second server on a port would start and share it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ASK = (
    "from console.clusters.lite_process import free_port; print(*[free_port() for _ in range(300)])"
)


def test_two_processes_asking_at_once_never_get_the_same_port():
    asking = [
        subprocess.Popen([sys.executable, "-c", ASK], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    given = [set(map(int, proc.communicate(timeout=60)[0].split())) for proc in asking]

    assert [len(ports) for ports in given] == [300, 300]
    assert not given[0] & given[1]
