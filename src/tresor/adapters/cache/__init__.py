"""The ``MarketCache`` port's implementations.

- ``memory.InMemoryMarketCache``: one process (the embedded default).
- ``redis.RedisMarketCache``: shared by every process through Redis (the distributed mode);
  ``codec`` turns the market records into JSON for it.
"""
