import unittest

from cachetools import LFUCache


def drain(cache):
    """Keys in eviction order (popitem does not count as a use)."""
    return [cache.popitem()[0] for _ in range(len(cache))]


class LFUEvictionOrderTest(unittest.TestCase):
    def test_lowest_count_first(self):
        cache = LFUCache(maxsize=10)
        for key in "abcd":
            cache[key] = key
        for key in "bcb":
            cache[key]
        self.assertEqual(["a", "d", "c", "b"], drain(cache))

    def test_ties_evict_least_recently_used(self):
        cache = LFUCache(maxsize=10)
        for key in "xyz":
            cache[key] = key
        for key in "zxy":
            cache[key]
        self.assertEqual(["z", "x", "y"], drain(cache))

    def test_joining_an_existing_count_goes_behind_it(self):
        cache = LFUCache(maxsize=10)
        cache["a"] = 1
        cache["b"] = 2
        cache["a"]
        cache["b"]  # now tied with a at the same count, used later
        self.assertEqual(["a", "b"], drain(cache))

    def test_single_key_buckets_merge(self):
        cache = LFUCache(maxsize=10)
        for key in range(4):
            cache[key] = key
            for _ in range(key):
                cache[key]
        # counts 1, 2, 3, 4; raise 0 to 2 and 1 to 3: ties are broken by recency
        cache[0]
        cache[1]
        self.assertEqual([0, 2, 1, 3], drain(cache))

    def test_insert_evicts_by_count_then_recency(self):
        cache = LFUCache(maxsize=3)
        cache[1] = 1
        cache[2] = 2
        cache[3] = 3
        cache[2]
        cache[1]
        cache[4] = 4  # evicts 3: the only key still used once
        self.assertNotIn(3, cache)
        cache[5] = 5  # evicts 4, then 2 and 1 are left with 5
        self.assertEqual([5, 2, 1], drain(cache))
