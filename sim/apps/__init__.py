"""The user interfaces: the ``metasim`` command line and the classroom app."""
