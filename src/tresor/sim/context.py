"""What an endpoint handler gets: the venue, the parsed parameters, the time, the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tresor.sim.engine import Venue
from tresor.sim.faults import Faults
from tresor.sim.limits import RateLimiter
from tresor.sim.params import Params
from tresor.sim.state import Account, ApiKey

Headers = list[tuple[bytes, bytes]]


class RawJSON:
    """A response body that is already serialised."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


@dataclass
class Simulator:
    """One venue with its request pipeline state: limits, faults and response caches."""

    venue: Venue
    limits: RateLimiter = field(default_factory=RateLimiter)
    faults: Faults = field(default_factory=Faults)
    cache: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], int] | None = None


@dataclass
class Ctx:
    sim: Simulator
    params: Params
    now: int
    ip: str
    key: ApiKey | None = None
    account: Account | None = None
    headers: Headers = field(default_factory=list)

    @property
    def venue(self) -> Venue:
        return self.sim.venue

    @property
    def acct(self) -> Account:
        """The signed caller's account (only signed endpoints read it)."""
        if self.account is None:
            raise RuntimeError("an unsigned request has no account")
        return self.account

    @property
    def api_key(self) -> ApiKey:
        """The signed caller's key (only signed endpoints read it)."""
        if self.key is None:
            raise RuntimeError("an unsigned request has no API key")
        return self.key


Handler = Callable[[Ctx], Any]
Weight = Callable[[Params], int]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    security: str  # NONE | USER_DATA | TRADE
    weight: Weight
    bucket: str = "api"  # api | sapi_ip | sapi_uid
    params: frozenset[str] = frozenset()


SIGNED_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})


def signed_params(*names: str) -> frozenset[str]:
    """The parameters a signed endpoint reads: its own and the signature's."""
    return frozenset(names) | SIGNED_PARAMS


def fixed(n: int) -> Weight:
    return lambda _p: n
