"""Ray, for the two stages that can use a cluster (teacher generation, pipeline fine-tunings):
importing it with a clear error when the extra is missing, joining or starting an instance, and
running workers in the driver's folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Iterator, Optional

from fsa_distill.errors import FsaError

RAY_MISSING = "the ray executor needs Ray, an optional extra: pip install 'fsa-distill[ray]'"


def require_ray():
    """Import Ray or fail with one line saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the [data] extra; plain `ray` lacks it)
    except ImportError:
        raise FsaError(RAY_MISSING) from None
    return ray


@contextlib.contextmanager
def ray_session(address: Optional[str] = None) -> Iterator[object]:
    """Use the Ray instance this process is already connected to, else connect to `address`
    (default: $RAY_ADDRESS, else a running local cluster, else a new local instance) and
    disconnect afterwards."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    _check_reachable(address or os.environ.get("RAY_ADDRESS"))
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except ConnectionError as e:
        raise FsaError(f"cannot connect to the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: "
                       f"{str(e).splitlines()[0]} (is `ray start --head` running there?)") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: Optional[str]) -> None:
    """Ray retries an unreachable head for minutes with a log line every few seconds; a plain
    HOST:PORT that does not answer a TCP connect is reported at once instead."""
    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError):
        raise FsaError(f"cannot reach the Ray cluster at {address} (is `ray start --head` running there, "
                       "and is the port open?)") from None


def enter_driver_cwd(cwd: str) -> None:
    """Run a worker in the driver's folder, so relative paths in configs (out, recordings, model
    files) mean on every node what they mean where the command was typed. Needs that folder on a
    filesystem every node mounts at the same path."""
    try:
        os.chdir(cwd)
    except OSError:
        raise FsaError(f"Ray worker on {socket.gethostname()} has no folder {cwd}: run from a folder that every "
                       "node mounts at the same path (docs/ray.md)") from None
