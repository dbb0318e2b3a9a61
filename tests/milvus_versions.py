"""The Milvus releases the version matrix runs: PyPI `milvus` wheels, one directory each.

The PyPI package `milvus` embeds a whole Milvus standalone (etcd and the rest in one process).
It was published for 2.2.x and 2.3.x only: 2.3.5 is the last, so Milvus 2.4 and later cannot be
run here. 2.3.5 is the test dependency itself (pyproject.toml); the others are installed once
each into var/milvus-versions/<version> with `pip install --no-deps --target`, and a later run
finds them there without downloading again.

    python -m tests.milvus_versions    # fetch every version of MATRIX not there yet

prints one line per version that cannot be had (scripts/test.sh notes it in the summary) and
exits 1 then.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

# 2.2.8: the last release without the Connect call (too old, refused with a clear message);
# 2.2.16: the last 2.2 (no count(*), no Upsert); 2.3.0: reports "v2.2-testing-…";
# 2.3.5: the newest on PyPI, the suite's own standalone.
MATRIX = ("2.2.8", "2.2.16", "2.3.0", "2.3.5")
INSTALLED = "2.3.5"
ROOT = Path(__file__).resolve().parent.parent / "var" / "milvus-versions"


class Unavailable(Exception):
    """This release cannot be had here; the message says why."""


def package_dir(version: str) -> Path:
    """The directory holding the `milvus` package of `version`; Unavailable when not fetched."""
    if version == INSTALLED:
        spec = importlib.util.find_spec("milvus")
        if spec is None or spec.origin is None:
            raise Unavailable(f"the milvus package ({INSTALLED}) is not installed")
        return Path(spec.origin).parent
    path = ROOT / version / "milvus"
    if not (path / "__init__.py").exists():
        raise Unavailable(
            f"Milvus {version} is not in {ROOT / version} (python -m tests.milvus_versions)"
        )
    return path


def obtain(version: str) -> Path:
    """The `milvus` package of `version`, installed from PyPI first when it is not there."""
    try:
        return package_dir(version)
    except Unavailable:
        pass
    staging = ROOT / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--target",
        str(staging),
        f"milvus=={version}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        reason = lines[-1] if lines else f"pip exited with {done.returncode}"
        raise Unavailable(f"Milvus {version} cannot be installed from PyPI: {reason}")
    # Whole or not at all: a run killed mid-download leaves only the staging directory.
    shutil.rmtree(ROOT / version, ignore_errors=True)
    staging.rename(ROOT / version)
    return package_dir(version)


def load(version: str) -> ModuleType:
    """The `milvus` module of `version`, imported under a name of its own (milvus_2_2_16)."""
    directory = package_dir(version)
    name = "milvus_" + version.replace(".", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    missing = 0
    for version in MATRIX:
        try:
            obtain(version)
        except Unavailable as error:
            print(error)
            missing += 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
