"""Use cases. They import the domain and the ports, never adapters or entry points."""
