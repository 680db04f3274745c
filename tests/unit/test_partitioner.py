"""Our producers' partitioner puts every key where aiokafka's (and the Java client's) default
partitioner does: records of one key stay on one partition whichever client wrote them."""

import random

from aiokafka.partitioner import DefaultPartitioner

from mintrace_common.publisher import Murmur2Partitioner


def test_every_key_lands_on_the_default_partitioners_partition():
    rng = random.Random(7)
    ours, default = Murmur2Partitioner(), DefaultPartitioner()
    keys = [rng.randbytes(n) for n in range(0, 70) for _ in range(20)]
    keys += [f"RPT-2026-{i:06d}".encode() for i in range(500)] + ["华信-报告-1".encode()]
    for count in (1, 6, 12, 31):
        partitions = list(range(count))
        assert [ours(k, partitions, partitions) for k in keys] == \
            [default(k, partitions, partitions) for k in keys]


def test_a_record_without_a_key_goes_to_an_available_partition():
    assert Murmur2Partitioner()(None, [0, 1, 2], [2]) == 2
    assert Murmur2Partitioner()(None, [0, 1, 2], []) in (0, 1, 2)
