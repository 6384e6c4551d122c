import math
import unittest
from datetime import datetime, timedelta

import cachetools.func
from cachetools import TTLCache


class TTLValidationTest(unittest.TestCase):
    def test_negative_numbers_rejected(self):
        for ttl in (-0.5, -1e-9, -(10**6), -math.inf):
            with self.assertRaises(ValueError, msg=repr(ttl)):
                TTLCache(maxsize=10, ttl=ttl)

    def test_negative_timedelta_rejected(self):
        with self.assertRaises(ValueError):
            TTLCache(maxsize=10, ttl=timedelta(seconds=-1), timer=datetime.now)

    def test_valid_ttls_accepted(self):
        for ttl in (0, 0.0, 1e-9, 3, math.inf, timedelta(0), timedelta(hours=1)):
            cache = TTLCache(maxsize=2, ttl=ttl)
            self.assertEqual(ttl, cache.ttl)

    def test_timedelta_ttl_still_works(self):
        cache = TTLCache(maxsize=2, ttl=timedelta(hours=1), timer=datetime.now)
        cache["k"] = "v"
        self.assertEqual("v", cache["k"])

    def test_ttl_cache_decorator_rejects_negative_ttl(self):
        with self.assertRaises(ValueError):
            cachetools.func.ttl_cache(maxsize=4, ttl=-1)
        with self.assertRaises(ValueError):
            cachetools.func.ttl_cache(maxsize=None, ttl=-2.5)

    def test_negative_maxsize_still_rejected(self):
        with self.assertRaises(ValueError):
            TTLCache(maxsize=-1, ttl=1)
