import unittest

from cachetools import LRUCache, TTLCache


class Timer:
    def __init__(self):
        self.time = 0

    def __call__(self):
        return self.time


class MissingLRU(LRUCache):
    def __missing__(self, key):
        self[key] = value = "made-" + str(key)
        return value


class MissingTTL(TTLCache):
    def __missing__(self, key):
        self[key] = value = "made-" + str(key)
        return value


class LRUPeekTest(unittest.TestCase):
    def test_peek_returns_value_or_default(self):
        cache = LRUCache(maxsize=2)
        cache["a"] = 1
        self.assertEqual(1, cache.peek("a"))
        self.assertIsNone(cache.peek("b"))
        self.assertEqual("dflt", cache.peek("b", "dflt"))
        self.assertEqual("dflt", cache.peek("b", default="dflt"))

    def test_peek_does_not_refresh(self):
        cache = LRUCache(maxsize=2)
        cache["a"] = 1
        cache["b"] = 2
        self.assertEqual(1, cache.peek("a"))
        cache["c"] = 3  # evicts a: peeking did not make it recently used
        self.assertNotIn("a", cache)
        self.assertEqual(["b", "c"], [cache.popitem()[0] for _ in range(2)])

    def test_peek_does_not_call_missing(self):
        cache = MissingLRU(maxsize=3)
        self.assertIsNone(cache.peek("x"))
        self.assertNotIn("x", cache)
        self.assertEqual(0, len(cache))
        self.assertEqual("made-y", cache["y"])
        self.assertEqual("made-y", cache.peek("y"))

    def test_peek_with_getsizeof(self):
        cache = LRUCache(maxsize=10, getsizeof=len)
        cache["k"] = "abc"
        self.assertEqual("abc", cache.peek("k"))
        self.assertEqual(3, cache.currsize)


class TTLPeekTest(unittest.TestCase):
    def test_peek_does_not_refresh(self):
        cache = TTLCache(maxsize=2, ttl=10, timer=Timer())
        cache["a"] = 1
        cache["b"] = 2
        self.assertEqual(1, cache.peek("a"))
        cache["c"] = 3
        self.assertNotIn("a", cache)
        self.assertEqual(2, cache.peek("b"))

    def test_peek_expired_gives_default_and_keeps_item_stored(self):
        timer = Timer()
        cache = TTLCache(maxsize=3, ttl=2, timer=timer)
        cache["a"] = 1
        timer.time = 1
        self.assertEqual(1, cache.peek("a"))
        timer.time = 2
        self.assertIsNone(cache.peek("a"))
        self.assertEqual(-1, cache.peek("a", -1))
        # peek does not expire anything itself; expire() still finds the item
        self.assertEqual([("a", 1)], list(cache.expire()))

    def test_peek_does_not_call_missing(self):
        cache = MissingTTL(maxsize=3, ttl=5, timer=Timer())
        self.assertEqual("none", cache.peek("q", "none"))
        self.assertEqual(0, len(cache))
