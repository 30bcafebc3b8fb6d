"""What a long or large benchmark run uses: processes' memory (sampled from /proc), the Spark driver JVM's heap, and
files and bytes per layer of a lakehouse. Shared by `growth` and `soak`."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LAYERS = ("bronze", "silver", "gold", "ops", "_checkpoints")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process now (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    """Every descendant of a process (from /proc; a process that ends meanwhile is skipped)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def spark_jvm(pid: int) -> int | None:
    """The descendant of `pid` that is the local Spark driver's JVM (not, e.g., a benchmark's Kafka broker)."""
    for child in children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"java" in argv[0] and b"org.apache.spark.deploy.SparkSubmit" in argv:
            return child
    return None


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    return sum(rss_bytes(p) for p in (pid, *children(pid)))


class PeakSampler:
    """Samples named processes' resident memory every `interval` seconds in a thread; `peaks` holds the highest.
    A name maps to a pid, or to a callable giving the bytes (e.g. a process tree)."""

    def __init__(self, targets: dict[str, object], interval: float = 0.5) -> None:
        self.targets = targets
        self.interval = interval
        self.peaks: dict[str, int] = dict.fromkeys(targets, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def sample(self) -> dict[str, int]:
        now = {name: t() if callable(t) else rss_bytes(int(t)) for name, t in self.targets.items()}
        for name, value in now.items():
            self.peaks[name] = max(self.peaks[name], value)
        return now

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()


def reset_heap_peaks(spark) -> None:
    """Start the JVM's memory pools' peak usage afresh (java.lang.management)."""
    for pool in spark.sparkContext._jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans():
        pool.resetPeakUsage()


def heap_peak_bytes(spark) -> int:
    """The sum of the JVM heap pools' peak usage since the last reset: at most the heap's real peak, at least each
    pool's."""
    jvm = spark.sparkContext._jvm
    heap = jvm.java.lang.management.MemoryType.HEAP
    return sum(p.getPeakUsage().getUsed() for p in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
               if p.getType().equals(heap))  # fmt: skip


@dataclass
class LayerUsage:
    """One layer on disk: every file under it, the Parquet data files, and those the tables' current versions use."""

    files: int = 0
    bytes: int = 0
    data_files: int = 0
    live_files: int = 0
    live_bytes: int = 0  # bytes of those live files
    tables: dict[str, int] = field(default_factory=dict)  # table -> files its current version uses


def table_dirs(layer_dir: Path) -> Iterable[Path]:
    return sorted(p for p in layer_dir.iterdir() if (p / "_delta_log").is_dir()) if layer_dir.is_dir() else []


def live_data(table_dir: Path) -> tuple[int, int]:
    """(data files, their bytes) of the table's current Delta version: what VACUUM may never remove. (0, 0) when it
    cannot be read, e.g. while it is created."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    try:
        sizes = pa.table(DeltaTable(str(table_dir)).get_add_actions(flatten=True)).column("size_bytes")
        return len(sizes), int(pc.sum(sizes).as_py() or 0)
    except Exception:  # noqa: BLE001 - a table being created or rewritten this instant is counted at the next sample
        return 0, 0


def layer_usage(lakehouse: Path, checkpoints: Path | None = None) -> dict[str, LayerUsage]:
    """Files and bytes per layer (and of the stream checkpoints), with the live data files per table."""
    out: dict[str, LayerUsage] = {}
    for layer in LAYERS:
        root = (checkpoints or lakehouse / layer) if layer == "_checkpoints" else lakehouse / layer
        usage = LayerUsage()
        for folder, _dirs, names in os.walk(root):
            for name in names:
                try:
                    usage.bytes += os.stat(os.path.join(folder, name)).st_size
                except OSError:
                    continue
                usage.files += 1
                usage.data_files += name.endswith(".parquet")
        if layer != "_checkpoints":
            for table in table_dirs(root):
                usage.tables[table.name], size = live_data(table)
                usage.live_bytes += size
            usage.live_files = sum(usage.tables.values())
        out[layer] = usage
    return out


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB"
