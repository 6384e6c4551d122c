import unittest

from cachetools import TTLCache


class FakeTimer:
    def __init__(self, start=0.0):
        self.now = start

    def __call__(self):
        return self.now


class TTLContainsTest(unittest.TestCase):
    def make(self, ttl, start=0.0):
        timer = FakeTimer(start)
        return TTLCache(maxsize=4, ttl=ttl, timer=timer), timer

    def test_not_contained_at_exact_expiry(self):
        cache, timer = self.make(ttl=5, start=10)
        cache["a"] = 1
        timer.now = 15
        self.assertNotIn("a", cache)
        self.assertIsNone(cache.get("a"))

    def test_contained_just_before_expiry(self):
        cache, timer = self.make(ttl=0.5)
        cache["a"] = 1
        timer.now = 0.25
        self.assertIn("a", cache)
        timer.now = 0.5
        self.assertNotIn("a", cache)

    def test_contains_agrees_with_getitem_and_len(self):
        cache, timer = self.make(ttl=3)
        cache[1] = "x"
        timer.now = 1
        cache[2] = "y"
        timer.now = 3
        self.assertEqual([False, True], [1 in cache, 2 in cache])
        with self.assertRaises(KeyError):
            cache[1]
        self.assertEqual("y", cache[2])
        self.assertEqual(1, len(cache))

    def test_zero_ttl_is_never_contained(self):
        cache, _ = self.make(ttl=0)
        cache["k"] = "v"
        self.assertNotIn("k", cache)
