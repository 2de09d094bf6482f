"""How to create an API key on each exchange, for the add-an-exchange wizard: where the key
page is, the permissions to tick, the ones never to tick, and what the exchange calls its
fields.

The permission names are meant to be spelled as each exchange's key page spells them
(Binance's match the flags ``adapters/exchange/probes.py`` reads; the others are from the
exchanges' help pages as last known, not checked against a live page: correct them when an
exchange renames one). An exchange without a guide gets the generic one: the same rules, in
general words.

``choices`` lists what a user may connect: the endpoints the operator configured
(``TRESOR_ENDPOINTS``: a simulator, a testnet) first, then the exchanges themselves that have a
guide (an endpoint of the same name hides the exchange's own entry).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Permission:
    name: str  # as the exchange's page spells it
    why: str


@dataclass(frozen=True, slots=True)
class Guide:
    exchange: str
    title: str
    page: str | None  # the exchange's API key page
    steps: tuple[str, ...]
    read: tuple[Permission, ...]  # to tick on either key
    trade: tuple[Permission, ...]  # to tick on the trade key only
    never: tuple[Permission, ...]
    ip: str  # where the IP allow-list is set
    private_name: str = "Secret"
    passphrase: bool = False  # the exchange gives keys a passphrase (OKX, KuCoin)


_WITHDRAW = "Tresor never withdraws and refuses any key that can."
_TRANSFER = "Tresor never moves funds between accounts or wallets."
_NOT_NEEDED = "Tresor trades spot only; leave it off for least privilege."

BINANCE = Guide(
    exchange="binance",
    title="Binance",
    page="https://www.binance.com/en/my/settings/api-management",
    steps=(
        "Sign in to Binance and open Account → API Management.",
        "Choose Create API, then System generated; name the key (for example "
        "“tresor-read”) and pass the security check.",
        "On the new key, choose Edit restrictions and tick the permissions below, nothing else.",
        "Under IP access restrictions choose “Restrict access to trusted IPs only” and add each "
        "of Tresor's IP addresses listed on this page.",
        "Save, then copy the API Key and the Secret Key into the form below: Binance shows the "
        "secret only once.",
        "For a trade key, create a second key the same way with trading ticked as well.",
    ),
    read=(Permission("Enable Reading", "Tresor reads balances, orders and trades."),),
    trade=(Permission("Enable Spot & Margin Trading", "Tresor places and cancels spot orders."),),
    never=(
        Permission("Enable Withdrawals", _WITHDRAW),
        Permission("Enable Universal Transfer", _TRANSFER),
        Permission("Enable Internal Transfer", _TRANSFER),
        Permission("Enable Margin Loan, Repay & Transfer", _NOT_NEEDED),
        Permission("Enable Futures", _NOT_NEEDED),
    ),
    ip="IP access restrictions → Restrict access to trusted IPs only",
    private_name="Secret Key",
)

OKX = Guide(
    exchange="okx",
    title="OKX",
    page="https://www.okx.com/account/my-api",
    steps=(
        "Sign in to OKX and open Profile → API keys, then Create API key (V5).",
        "Choose API trading, name the key and set a passphrase: you will type it below.",
        "Tick the permissions below, nothing else.",
        "Bind the key to Tresor's IP addresses listed on this page (OKX deletes trading keys "
        "without an IP address after 14 days unused).",
        "Copy the API key, the Secret key and your passphrase into the form below.",
    ),
    read=(Permission("Read", "Tresor reads balances, orders and trades."),),
    trade=(Permission("Trade", "Tresor places and cancels spot orders."),),
    never=(Permission("Withdraw", _WITHDRAW),),
    ip="IP address (bind the key to IP addresses)",
    private_name="Secret key",
    passphrase=True,
)

KUCOIN = Guide(
    exchange="kucoin",
    title="KuCoin",
    page="https://www.kucoin.com/account/api",
    steps=(
        "Sign in to KuCoin and open Account → API Management, then Create API.",
        "Name the key and set an API passphrase: you will type it below.",
        "Tick the permissions below, nothing else.",
        "Under IP restriction choose Yes and add each of Tresor's IP addresses listed on this "
        "page.",
        "Copy the API key, the API secret and your passphrase into the form below.",
    ),
    read=(Permission("General", "Tresor reads balances, orders and trades."),),
    trade=(Permission("Spot Trading", "Tresor places and cancels spot orders."),),
    never=(
        Permission("Withdrawal", _WITHDRAW),
        Permission("Transfer", _TRANSFER),
        Permission("Margin Trading", _NOT_NEEDED),
        Permission("Futures Trading", _NOT_NEEDED),
    ),
    ip="IP restriction",
    private_name="API secret",
    passphrase=True,
)

KRAKEN = Guide(
    exchange="kraken",
    title="Kraken",
    page="https://pro.kraken.com/app/settings/api",
    steps=(
        "Sign in to Kraken and open Settings → API, then Create API key.",
        "Name the key and tick the permissions below, nothing else.",
        "Under IP allowlisting add each of Tresor's IP addresses listed on this page.",
        "Generate the key and copy the API key and the Private key into the form below.",
    ),
    read=(
        Permission("Query Funds", "Tresor reads balances."),
        Permission("Query Open Orders & Trades", "Tresor reads open orders."),
        Permission("Query Closed Orders & Trades", "Tresor reads trade history."),
        Permission("Query Ledger Entries", "Tresor reads deposits and withdrawals."),
    ),
    trade=(
        Permission("Create & Modify Orders", "Tresor places spot orders."),
        Permission("Cancel/Close Orders", "Tresor cancels orders."),
    ),
    never=(
        Permission("Withdraw Funds", _WITHDRAW),
        Permission("Deposit Funds", "Tresor has no use for it."),
    ),
    ip="IP allowlisting",
    private_name="Private key",
)

GUIDES = {g.exchange: g for g in (BINANCE, OKX, KUCOIN, KRAKEN)}


def guide_for(exchange: str) -> Guide:
    """The exchange's guide, or the generic one in its name."""
    found = GUIDES.get(exchange)
    if found is not None:
        return found
    return Guide(
        exchange=exchange,
        title=exchange.capitalize(),
        page=None,
        steps=(
            f"Sign in to {exchange} and open its API key page.",
            "Create a key with the permissions below, nothing else.",
            "Restrict the key to Tresor's IP addresses listed on this page.",
            "Copy the key and its secret (and passphrase, if the exchange gives one) below.",
        ),
        read=(Permission("Read (balances, orders, trades)", "Tresor reads your account."),),
        trade=(Permission("Spot trading", "Tresor places and cancels spot orders."),),
        never=(
            Permission("Withdrawals", _WITHDRAW),
            Permission("Transfers between accounts", _TRANSFER),
        ),
        ip="the key's IP allow-list",
        passphrase=True,
    )


@dataclass(frozen=True, slots=True)
class Choice:
    """One thing the wizard can connect: an operator's endpoint or an exchange itself."""

    name: str  # the wizard's path segment
    exchange: str
    endpoint: str | None
    guide: Guide

    @property
    def title(self) -> str:
        if self.endpoint is None:
            return self.guide.title
        return f"{self.endpoint} ({self.guide.title})"


def choices(endpoints: Iterable[tuple[str, str]]) -> list[Choice]:
    """``endpoints``: (name, exchange) of the operator's endpoints."""
    found = [Choice(name, exchange, name, guide_for(exchange)) for name, exchange in endpoints]
    taken = {c.name for c in found}
    found += [Choice(g.exchange, g.exchange, None, g) for g in GUIDES.values()]
    return [c for c in found if c.endpoint is not None or c.name not in taken]


def find(options: Iterable[Choice], name: str) -> Choice | None:
    return next((c for c in options if c.name == name), None)
