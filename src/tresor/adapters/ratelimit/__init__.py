"""The ``RateBudget`` port's implementations.

- ``memory.InMemoryRateBudget``: one process (the embedded default).
- ``redis.RedisRateBudget``: shared by every process through Redis (the distributed mode).
"""
