"""The cyclic garbage collector, set for a long-running consumer.

A consuming service holds a large, permanent heap once warm (the registry, OpenCC's and
pypinyin's dictionaries in name folding: ~270,000 objects), and each batch allocates tens of
thousands of short-lived objects. With CPython's defaults every older-generation collection
walks that whole permanent heap again (a full collection of it took ~1 s here). So: once the
first batch has gone through (lazily loaded dictionaries included), move the heap out of the
collector's sight (`gc.freeze`), and collect the young generation less often.
Reference counting still frees everything as before; only cycles among frozen objects are never
collected, and those are the process's permanent state."""

import gc

YOUNG_THRESHOLD = 20_000  # CPython's default is 700 allocations


class Heap:
    def __init__(self) -> None:
        self.frozen = False

    def settle(self) -> None:
        """Once per process, after warm-up: freeze the heap, collect less often."""
        if self.frozen:
            return
        self.frozen = True
        gc.freeze()  # no collection first: a full one costs ~1 s of CPU on this heap, and the
        # few cycles of garbage it would find stay (frozen) for good
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


HEAP = Heap()
