"""A per-client rate limit (a token bucket per client address) for the routes that spend model time.

    limiter = RateLimiter(per_minute=30, burst=5)
    wait = limiter.take("203.0.113.7")   # 0.0: go ahead; else the seconds until this client may send again

Each client's bucket holds up to `burst` requests and refills at per_minute / 60 a second. At most `max_clients`
buckets are kept (the least recently seen are dropped: a dropped client starts again with a full bucket), so a
flood of addresses cannot grow the process. One limiter per process: under gunicorn every worker has its own, so a
client gets up to workers x the limit (docs/webapp.md, "Access and limits").
"""
from __future__ import annotations

import collections
import threading
import time


class RateLimiter:
    def __init__(self, per_minute: float, burst: int = 5, max_clients: int = 10000, clock=time.monotonic):
        if per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs per_minute > 0 and burst >= 1")
        self.rate, self.burst, self.max_clients, self.clock = per_minute / 60.0, burst, max_clients, clock
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Takes one request from the client's bucket: 0.0 when it had one, else the seconds until it has one."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)  # the most recently seen last
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait

    def __len__(self) -> int:
        return len(self._buckets)
