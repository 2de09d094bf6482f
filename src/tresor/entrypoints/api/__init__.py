"""The REST API (FastAPI): OAuth2 bearer tokens with scopes, problem+json errors."""
