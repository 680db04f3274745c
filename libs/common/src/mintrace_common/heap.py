"""The cyclic garbage collector, set for a long-running consumer.

A consuming service holds a large, permanent heap once warm (the registry, OpenCC's and
pypinyin's dictionaries in name folding: ~270,000 objects), and each batch allocates tens of
thousands of short-lived objects. With CPython's defaults every older-generation collection
walks that whole permanent heap again (a full collection of it took ~1 s here). So: once the
first batch has gone through (lazily loaded dictionaries included), collect once and move what
survives out of the collector's sight (`gc.freeze`), and collect the young generation less often.
Reference counting still frees everything as before; only cycles among frozen objects are never
collected, and those are the process's permanent state."""

import gc

YOUNG_THRESHOLD = 20_000  # CPython's default is 700 allocations


class Heap:
    def __init__(self) -> None:
        self.frozen = False

    def settle(self) -> None:
        """Once per process, after warm-up: collect, freeze the survivors, collect less often."""
        if self.frozen:
            return
        self.frozen = True
        gc.collect()
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


HEAP = Heap()
