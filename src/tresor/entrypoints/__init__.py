"""Entry points: the command line (and, later, the API, web pages and worker)."""
