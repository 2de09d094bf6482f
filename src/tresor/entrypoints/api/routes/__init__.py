"""Route groups of the REST API."""
