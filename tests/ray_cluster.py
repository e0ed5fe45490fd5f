"""A real multi-node Ray cluster on 127.0.0.1 for tests, ended by process session id."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
# Ray 2.60 turns on token auth for clusters started with `ray start`; every node and driver
# must then run with this mode (the token itself is in ~/.ray/auth_token).
CLUSTER_ENV = {
    "RAY_AUTH_MODE": "token",
    # Notice a dead node within seconds rather than the default half minute.
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "5",
    "RAY_health_check_initial_delay_ms": "1000",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    """One `ray start` and the session it runs in (its raylet and workers share it)."""

    proc: subprocess.Popen
    sid: int

    def kill(self) -> None:
        """SIGKILL every process of this node's session."""
        subprocess.run(["pkill", "-9", "-s", str(self.sid)], capture_output=True, check=False)


@dataclass
class LocalCluster:
    """Head plus workers, all bound to 127.0.0.1."""

    port: int
    temp_dir: str
    nodes: list[Node] = field(default_factory=list)
    # A token of this cluster's own, passed by environment: ~/.ray is left alone.
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment a driver needs to join this cluster."""
        return {**os.environ, **CLUSTER_ENV, "RAY_AUTH_TOKEN": self.token}

    def _start(self, args: list[str], hide: tuple[Path, ...] = ()) -> Node:
        cmd = [RAY, "start", *args, "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        if hide:
            cmd = _in_own_mounts(cmd, hide)
        proc = subprocess.Popen(
            cmd,
            env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed: {out[-2000:]}")
        node = Node(proc, proc.pid)
        self.nodes.append(node)
        return node

    def start_head(self, num_cpus: int) -> Node:
        return self._start([
            "--head", f"--port={self.port}", f"--num-cpus={num_cpus}", "--num-gpus=0",
            "--include-dashboard=false", f"--temp-dir={self.temp_dir}",
        ])

    def add_worker(self, num_cpus: int, hide: tuple[Path, ...] = ()) -> Node:
        """A worker node; directories in ``hide`` look empty to it (its own mount namespace),
        like a node-local directory where the driver has a shared one."""
        return self._start([f"--address={self.address}", f"--num-cpus={num_cpus}", "--num-gpus=0"],
                           hide)

    def wait_for_nodes(self, count: int, timeout_s: float = 60) -> None:
        """Block until ``count`` nodes are alive (bounded)."""
        code = (f"import ray; ray.init(address='{self.address}', logging_level='ERROR'); "
                "print(sum(n['Alive'] for n in ray.nodes()))")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = subprocess.run([sys.executable, "-c", code], env=self.env(),
                                 capture_output=True, text=True, timeout=60,
                                 start_new_session=True)
            if out.stdout.strip().splitlines()[-1:] == [str(count)]:
                return
            time.sleep(1)
        raise TimeoutError(f"{count} Ray nodes not alive after {timeout_s}s")

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _in_own_mounts(cmd: list[str], hide: tuple[Path, ...]) -> list[str]:
    # The node's daemons inherit the namespace; an empty tmpfs covers each hidden directory.
    mounts = " && ".join(f"mount -t tmpfs tmpfs {shlex.quote(str(p))}" for p in hide)
    ns = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        ns = ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
    return [*ns, "sh", "-c", f"{mounts} && exec {shlex.join(cmd)}"]


def start_cluster(workers: int = 1, cpus_per_node: int = 1,
                  hide: tuple[Path, ...] = ()) -> LocalCluster:
    """A head and ``workers`` worker nodes on this machine; call ``stop()`` when done."""
    # Ray's unix sockets need a short path, so not pytest's deep tmp_path.
    cluster = LocalCluster(free_port(), tempfile.mkdtemp(prefix="rs", dir="/tmp"))
    try:
        cluster.start_head(cpus_per_node)
        for _ in range(workers):
            cluster.add_worker(cpus_per_node, hide)
        cluster.wait_for_nodes(1 + workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster
