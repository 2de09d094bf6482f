"""The errors of smart order routing, on the bases of ``domain.errors`` (whose statuses the API
already maps, so nothing new is needed there)::

    InputError
    └── NoRoute                     no_route: none of the user's connections can fill any of it
                                    (details.venues: each connection and why it cannot)
    Conflict
    ├── QuoteExpired                quote_expired: the quote is older than its time to live
    └── QuoteAlreadyExecuted        quote_already_executed: executed under another
                                    Idempotency-Key (a quote is executed at most once)

Another user's quote is ``NotFound``, like every object of another user.
"""

from __future__ import annotations

from tresor.domain.errors import Conflict, InputError


class NoRoute(InputError):
    code = "no_route"
    default_message = "None of your connections can fill any of this order."
    default_remedy = (
        "Read why each connection cannot take part in 'venues': add a trade key, fund the "
        "account, connect an exchange that lists the market, or ask for a smaller amount."
    )


class QuoteExpired(Conflict):
    code = "quote_expired"
    default_message = "This quote has expired: the order books it was made from are too old."
    default_remedy = "Ask for a new quote (POST /v1/route/quote) and execute it before it expires."


class QuoteAlreadyExecuted(Conflict):
    code = "quote_already_executed"
    default_message = "This quote was already executed, under another Idempotency-Key."
    default_remedy = (
        "Send the Idempotency-Key of the first execution to read its result again, or ask for a "
        "new quote to trade more."
    )
