"""The output folder: staged writing, the ``.metasim-output.json`` marker, and the files a run
writes (``summary.json``, ``patients.csv``, tables and figures).
"""
