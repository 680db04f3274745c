from mintrace_common.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_producer_may_burst_then_waits_for_its_rate():
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=100, clock=clock)
    assert buckets.take("A", 100) == 0
    assert buckets.take("A", 5) == 0.5          # 5 tokens at 10/s
    assert buckets.take("B", 60) == 0           # another producer has its own bucket
    clock.t += 0.5
    assert buckets.take("A", 5) == 0
    assert buckets.take("A", 1) > 0


def test_a_request_larger_than_the_bucket_costs_a_full_bucket():
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=3, clock=clock)
    assert buckets.take("A", 1000) == 0
    assert buckets.take("A", 1000) == 0.3
    assert TokenBuckets(rate=0, burst=0).take("A", 10**9) == 0  # rate 0: no limit
