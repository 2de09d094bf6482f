"""Every dashboard route that names an object checks that it is the signed-in user's. The
routes are a table, checked against the app: a new dashboard route with an id (in its path) that
is not in the table fails ``test_the_table_covers_every_dashboard_route_with_an_id``.

Another user's object answers exactly as one that does not exist: a 404 page, and the object
is untouched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.e2e.api.conftest import Api
from tests.e2e.api.test_ownership_and_scopes import (
    OWNERS_ORDERS,
    OWNERS_QUOTES,
    OWNERS_RULES,
    TRADE,
    connection_of,
)
from tests.e2e.web.conftest import Browser, signed_in
from tests.e2e.web.test_signin_pages import tenant_of
from tests.support.routes import every_route


@dataclass(frozen=True)
class Page:
    method: str
    path: str  # the template, as in the app
    # "key": a rotation's form; "execute": an execute form; None: no form fields
    form: str | None = None
    role: str = "read"

    def url(self, ids: dict[str, str]) -> str:
        url = self.path.replace("{role}", self.role)
        for name, value in ids.items():
            url = url.replace("{" + name + "}", value)
        return url


PAGES = [
    Page("POST", "/connections/{connection_id}/sync"),
    Page("GET", "/exchanges/{connection_id}"),
    Page("POST", "/exchanges/{connection_id}/test"),
    Page("POST", "/exchanges/{connection_id}/disable"),
    Page("POST", "/exchanges/{connection_id}/enable"),
    *(
        Page("POST", "/exchanges/{connection_id}/keys/{role}", form="key", role=role)
        for role in ("read", "trade")
    ),
    Page("POST", "/exchanges/{connection_id}/remove"),
    Page("GET", "/trade/orders/{order_id}"),
    Page("POST", "/trade/orders/{order_id}/cancel"),
    Page("POST", "/trade/route/{quote_id}/execute", form="execute"),
    Page("GET", "/trade/rules/{rule_id}"),
    Page("POST", "/trade/rules/{rule_id}/delete"),
    Page("POST", "/settings/clients/{client_id}/revoke"),
    Page("POST", "/settings/sessions/{session_id}/end"),
]
# pages that take a connection as a filter
FILTERED = ["/trades", "/orders", "/transfers", "/trades.csv", "/orders.csv", "/transfers.csv"]
FILTERED += ["/logs", "/gaps"]
# path parameters that name no user's object
PUBLIC = {("GET", "/exchanges/new/{name}")}
MISSING = {
    "connection_id": "0" * 32,
    "order_id": "ord_" + "0" * 20,
    "quote_id": "rq_" + "0" * 20,
    "rule_id": "rul_" + "0" * 20,
    "client_id": "trc_" + "0" * 24,
    "session_id": "0" * 32,
}


async def _owners_objects(api: Api) -> tuple[Browser, dict[str, str]]:
    """alice, signed in, with a connection (an open order, a route quote and a rule on it),
    an API client and a session; their ids by path parameter."""
    owner = await signed_in(api, "alice")
    tenant = await tenant_of(api, "alice")
    _, connection = await connection_of(api, tenant)
    sessions = await api.runtime.container.accounts.sessions(owner.user_id)
    ids = {
        "connection_id": connection["id"],
        "order_id": OWNERS_ORDERS[connection["id"]],
        "quote_id": OWNERS_QUOTES[connection["id"]],
        "rule_id": OWNERS_RULES[connection["id"]],
        "client_id": tenant.client_id,
        "session_id": sessions[0].id,
    }
    return owner, ids


def _form(api: Api, page: Page) -> dict[str, Any]:
    if page.form == "key":
        return {f"{k}": v for k, v in api.key(TRADE).items()}
    if page.form == "execute":
        return {"idempotency_key": "web-ownership-test"}
    return {}


async def test_the_table_covers_every_dashboard_route_with_an_id(api: Api) -> None:
    with_ids = {
        (method, path)
        for method, path in every_route(api.app)
        if "{" in path and not path.startswith("/v1/")
    }
    table = {(p.method, p.path) for p in PAGES} | PUBLIC
    assert with_ids, "the walk finds the dashboard's routes"
    assert with_ids <= table, with_ids - table
    assert table <= with_ids, table - with_ids


async def test_another_user_gets_a_404_page_on_every_dashboard_route_naming_an_object(
    api: Api,
) -> None:
    owner, ids = await _owners_objects(api)
    bob = await signed_in(api, "bob")
    for page in PAGES:
        if page.method == "GET":
            theirs = await bob.get(page.url(ids))
            missing = await bob.get(page.url(MISSING))
        else:
            theirs = await bob.post(page.url(ids), _form(api, page))
            missing = await bob.post(page.url(MISSING), _form(api, page))
        assert theirs.status_code == 404, (page, theirs.text[:300])
        assert missing.status_code == 404, (page, missing.text[:300])
        assert "not_found" in theirs.text, page
    for path in FILTERED:
        theirs = await bob.get(f"{path}?connection_id={ids['connection_id']}")
        assert theirs.status_code == 404, (path, theirs.text[:300])
    # nothing of alice's was touched: her connection, order, rule, client and session stand
    assert (await owner.get(f"/exchanges/{ids['connection_id']}")).status_code == 200
    assert (await owner.get(f"/trade/orders/{ids['order_id']}")).status_code == 200
    assert (await owner.get(f"/trade/rules/{ids['rule_id']}")).status_code == 200
    settings = await owner.get("/settings")
    assert settings.status_code == 200
    assert ids["client_id"] in settings.text
    detail = await owner.get(f"/exchanges/{ids['connection_id']}")
    assert "Disabled" not in detail.text
