"""Permission answers shaped as each exchange's API documentation shows them (the field
names and value forms are the documented ones; identifiers and keys are placeholders)."""

from __future__ import annotations

from typing import Any

# GET /sapi/v1/account/apiRestrictions, as Binance documents it
BINANCE_RESTRICTIONS: dict[str, Any] = {
    "ipRestrict": False,
    "createTime": 1698645219000,
    "enableReading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "enableMargin": False,
    "enableFutures": False,
    "permitsUniversalTransfer": False,
    "enableVanillaOptions": False,
    "enableFixApiTrade": False,
    "enableFixReadOnly": True,
    "enableSpotAndMarginTrading": False,
    "enablePortfolioMarginTrading": True,
    "tradingAuthorityExpirationTime": 1628985600000,
}
BINANCE_ACCOUNT: dict[str, Any] = {
    "canTrade": True,
    "canWithdraw": False,
    "canDeposit": True,
    "accountType": "SPOT",
    "balances": [],
    "permissions": ["SPOT"],
}

# GET /api/v5/account/config (fields Tresor reads, and some it does not)
OKX_CONFIG: dict[str, Any] = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "acctLv": "2",
            "autoLoan": False,
            "enableSpotBorrow": False,
            "ip": "",
            "label": "placeholder",
            "mainUid": "1000000001",
            "perm": "read_only,withdraw,trade",
            "posMode": "long_short_mode",
            "type": "0",
            "uid": "1000000001",
        }
    ],
}

# GET /api/v1/user/api-key
KUCOIN_KEY_INFO: dict[str, Any] = {
    "code": "200000",
    "data": {
        "remark": "placeholder",
        "apiKey": "000000000000000000000000",
        "apiVersion": 3,
        "permission": "General,Spot",
        "ipWhitelist": "192.0.2.10",
        "createdAt": 1700000000000,
        "uid": 1,
        "isMaster": True,
    },
}

# POST /0/private/GetApiKeyInfo
KRAKEN_KEY_INFO: dict[str, Any] = {
    "error": [],
    "result": {
        "apiKeyName": "placeholder",
        "apiKey": "placeholder-key",
        "nonce": "1700000000000",
        "nonceWindow": 0,
        "permissions": ["query-funds", "withdraw-funds", "query-open-trades", "modify-trades"],
        "validUntil": "0",
        "queryFrom": "0",
        "queryTo": "0",
        "createdTime": "1700000000",
        "modifiedTime": "1700000100",
        "ipAllowlist": [],
        "lastUsed": "1700000200",
    },
}
