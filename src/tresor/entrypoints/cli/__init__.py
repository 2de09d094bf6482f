"""The ``tresor`` command."""
