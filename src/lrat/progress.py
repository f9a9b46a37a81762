"""One progress bar shape for every loop over questions: a tqdm bar whose ``update`` the loop calls, closed
however the loop ends, or nothing at all when progress is off (--quiet)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "run", enabled: bool = True
                 ) -> Iterator[Callable[[int], object] | None]:
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit)
    try:
        yield bar.update
    finally:
        bar.close()
