"""The domain: Tresor's vocabulary as plain, frozen data and pure rules.

Standard library only (an import-linter contract checks it): no framework, no database, no
exchange client. Everything else is built around these types.
"""
