"""Injected faults: the misbehaviour of a real exchange, on demand.

Configured through ``POST /_sim/faults`` (replacing the whole configuration) and cleared with
``DELETE /_sim/faults``. Each probabilistic fault applies to a ``share`` of the requests it
applies to (every exchange request, or those whose path starts with one of ``paths``)::

    {"latency": {"share": 1.0, "ms": 200},
     "error_5xx": {"share": 0.1},          # HTTP 500 with JSON -1001
     "error_503_html": {"share": 0.1},     # HTTP 503 with a non-JSON body
     "hang": {"share": 0.1, "seconds": 30},  # no answer before the client times out; not executed
     "lost_response": {"share": 0.1, "mode": "5xx" | "timeout", "seconds": 30},
                                            # executed, then the answer is lost
     "maintenance": true,                   # every exchange endpoint answers "under maintenance"
     "clock_offset_ms": 2500,               # the server clock runs ahead (or behind, if negative)
     "weight_limit": 100,                   # a lower REQUEST_WEIGHT per minute
     "orders_per_10s": 5,                   # a lower ORDERS limit
     "paths": ["/api/v3/order"],
     "seed": 7}
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


class FaultConfigError(ValueError):
    pass


def _is_number(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as an int
    return isinstance(value, int | float) and not isinstance(value, bool)


def _share(spec: Any, name: str) -> float:
    if not isinstance(spec, dict):
        raise FaultConfigError(f"{name} must be an object with a 'share'")
    share = spec.get("share", 1.0)
    if not _is_number(share) or not 0 <= share <= 1:
        raise FaultConfigError(f"{name}.share must be a number between 0 and 1")
    return float(share)


def _number(spec: dict[str, Any], key: str, default: float, name: str) -> float:
    value = spec.get(key, default)
    if not _is_number(value) or value < 0:
        raise FaultConfigError(f"{name}.{key} must be a non-negative number")
    return float(value)


@dataclass
class Faults:
    latency_share: float = 0.0
    latency_ms: float = 0.0
    error_5xx_share: float = 0.0
    error_503_share: float = 0.0
    hang_share: float = 0.0
    hang_seconds: float = 30.0
    lost_share: float = 0.0
    lost_mode: str = "5xx"
    lost_seconds: float = 30.0
    maintenance: bool = False
    clock_offset_ms: int = 0
    weight_limit: int | None = None
    orders_per_10s: int | None = None
    paths: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def parse(cls, body: Any) -> Faults:
        if not isinstance(body, dict):
            raise FaultConfigError("the fault configuration must be a JSON object")
        known = {
            "latency",
            "error_5xx",
            "error_503_html",
            "hang",
            "lost_response",
            "maintenance",
            "clock_offset_ms",
            "weight_limit",
            "orders_per_10s",
            "paths",
            "seed",
        }
        unknown = set(body) - known
        if unknown:
            raise FaultConfigError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        f = cls(raw=dict(body))
        if "latency" in body:
            f.latency_share = _share(body["latency"], "latency")
            f.latency_ms = _number(body["latency"], "ms", 100, "latency")
        if "error_5xx" in body:
            f.error_5xx_share = _share(body["error_5xx"], "error_5xx")
        if "error_503_html" in body:
            f.error_503_share = _share(body["error_503_html"], "error_503_html")
        if "hang" in body:
            f.hang_share = _share(body["hang"], "hang")
            f.hang_seconds = _number(body["hang"], "seconds", 30, "hang")
        if "lost_response" in body:
            spec = body["lost_response"]
            f.lost_share = _share(spec, "lost_response")
            f.lost_mode = str(spec.get("mode", "5xx"))
            if f.lost_mode not in ("5xx", "timeout"):
                raise FaultConfigError("lost_response.mode must be '5xx' or 'timeout'")
            f.lost_seconds = _number(spec, "seconds", 30, "lost_response")
        if "maintenance" in body:
            if not isinstance(body["maintenance"], bool):
                raise FaultConfigError("maintenance must be true or false")
            f.maintenance = body["maintenance"]
        for key in ("clock_offset_ms", "weight_limit", "orders_per_10s"):
            if key in body:
                value = body[key]
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or (key != "clock_offset_ms" and value < 1)
                ):
                    raise FaultConfigError(
                        f"{key} must be an integer" + ("" if key == "clock_offset_ms" else " >= 1")
                    )
                setattr(f, key, value)
        if "paths" in body:
            paths = body["paths"]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise FaultConfigError("paths must be a list of path prefixes")
            f.paths = tuple(paths)
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise FaultConfigError("seed must be an integer")
        f.rng = random.Random(seed)
        return f

    def applies(self, path: str) -> bool:
        return not self.paths or path.startswith(self.paths)

    def roll(self, share: float) -> bool:
        return share > 0 and self.rng.random() < share
