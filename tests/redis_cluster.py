"""Redis Clusters started from this machine's ``redis-server`` and
``redis-cli`` for the Cluster tests: one of three primaries shared by the
run (`local_cluster`), and ones with replicas that a test starts for itself
(`start_cluster`) to fail a node over.

Their nodes keep nothing on disk but their cluster configuration, in a
temporary directory removed when the cluster stops (at the latest when the
run ends). A node that misses a second of pings is failed over.
"""

from __future__ import annotations

import atexit
import functools
import random
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.helpers import wait_for

PRIMARIES = 3
#: Milliseconds without an answer before a node counts as failed.
NODE_TIMEOUT = 1000


@dataclass(frozen=True)
class Node:
    port: int
    id: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


@dataclass
class LocalCluster:
    directory: Path
    nodes: list[Node] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def owner(self, slot: int) -> Node:
        """The node serving `slot`, as a live node of the Cluster says."""
        alive = next(n for n in self.nodes if self.processes[n.port].poll() is None)
        with alive.client() as client:
            for first, last, (_host, port, *_rest), *_replicas in client.execute_command(
                "CLUSTER", "SLOTS"
            ):
                if first <= slot <= last:
                    return next(node for node in self.nodes if node.port == port)
        raise AssertionError(f"no node serves slot {slot}")

    def move_slot(self, slot: int, target: Node) -> None:
        """Reshard `slot` to `target` with its keys, as ``redis-cli --cluster
        reshard`` does: import, migrate the keys, then hand the slot over."""
        source = self.owner(slot)
        with source.client() as src, target.client() as dst:
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.id)
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
        for node in self.nodes:
            with node.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.id)

    def kill(self, node: Node) -> None:
        """SIGKILL one node: its replica takes over once the others notice."""
        self.processes[node.port].kill()
        self.processes[node.port].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def missing() -> str | None:
    """Why no cluster can be started here, or None."""
    absent = [name for name in ("redis-server", "redis-cli") if shutil.which(name) is None]
    return f"{' and '.join(absent)} not found on PATH" if absent else None


@functools.cache
def local_cluster() -> LocalCluster:
    """The run's shared cluster of three primaries, started on first use."""
    return start_cluster()


def start_cluster(replicas: int = 0) -> LocalCluster:
    """A cluster of three primaries with `replicas` each, stopped at exit
    unless its `stop` is called first."""
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="conveyor-cluster-")))
    atexit.register(cluster.stop)
    ports = free_ports(PRIMARIES * (1 + replicas))
    files = cluster.directory
    for port in ports:
        command = [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file", str(files / f"nodes-{port}.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT), "--repl-diskless-sync-delay", "0",
            "--dir", str(files), "--save", "", "--appendonly", "no",
            "--logfile", str(files / f"{port}.log"),
        ]  # fmt: skip
        cluster.processes[port] = subprocess.Popen(command)
    for port in ports:
        wait_for(lambda port=port: answers(port), timeout=10, message=f"redis-server on {port}")
    subprocess.run(
        ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{port}" for port in ports],
         "--cluster-replicas", str(replicas), "--cluster-yes"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    for port in ports:
        with redis.Redis(port=port, decode_responses=True) as client:
            cluster.nodes.append(Node(port, client.execute_command("CLUSTER", "MYID")))
            wait_for(
                lambda client=client: (
                    "cluster_state:ok" in str(client.execute_command("CLUSTER", "INFO"))
                ),
                timeout=30,
                message=f"cluster state ok on {port}",
            )
            # Killing a primary whose replica had not finished its first
            # sync lost jobs that WAIT had counted as replicated (seen here).
            wait_for(
                lambda client=client: synced(client.info("replication")),
                timeout=30,
                message=f"replication in sync on {port}",
            )
    return cluster


def synced(replication: dict[str, object]) -> bool:
    if replication.get("role") == "master":
        return True
    return replication.get("master_link_status") == "up" and not replication.get(
        "master_sync_in_progress"
    )


def answers(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except redis.ConnectionError:
        return False


def free_ports(count: int) -> list[int]:
    """Ports free now, each with its cluster bus port (10,000 above) free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20_000, 40_000)
        if port not in ports and all(free(p) for p in (port, port + 10_000)):
            ports.append(port)
    return ports


def free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def slot_of(key: str) -> int:
    return key_slot(key.encode())
