"""Whether a corpus's vectors fit in memory for exact search, asked before hours of encoding rather than after."""

from __future__ import annotations

from pathlib import Path

GIB = 1 << 30
COPIES = 2  # the encoded matrix and FAISS's own copy inside IndexFlatIP


def available_bytes() -> int | None:
    """Free memory for this process: the kernel's MemAvailable, capped by a cgroup (container) limit; None when
    neither can be read (then nothing is refused)."""
    free: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            free.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(free) if free else None


def check_exact_index(n_docs: int, dim: int, corpus: Path, available: int | None = None) -> None:
    """ValueError saying what to do instead when ``n_docs`` × ``dim`` float32 vectors (twice: the matrix and the
    index) would not fit in the memory there is."""
    available = available_bytes() if available is None else available
    need = n_docs * dim * 4 * COPIES
    if available is None or need <= available:
        return
    raise ValueError(
        f"{corpus}: {n_docs:,} documents x {dim} dimensions need about {need / GIB:.1f} GiB for exact search in "
        f"memory (the vectors and the FAISS index), but {available / GIB:.1f} GiB is free. Run on a machine with "
        "more memory, or point data.corpus at a sample of the corpus that keeps every document of the qrels (the "
        "held-out metrics are then over that sample); a smaller model dimension (train.base_model) also shrinks it.")
