"""Scenarios: the schema, loading a TOML file, ``--set`` overrides, the errors a user sees,
the bundled scenario files, and the table of every parameter (``metasim params``).

Nothing here simulates; everything here is checked before any long computation starts.
"""
