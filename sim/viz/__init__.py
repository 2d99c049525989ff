"""Pictures: the shared look (:mod:`.style`), figures of one run (:mod:`.figures`) and of
sweeps (:mod:`.sweep_figures`), the body map's layout (:mod:`.body_layout`) drawn by
matplotlib (:mod:`.bodymap`) and as SVG (:mod:`.svg`), and animations (:mod:`.animate`).
Nothing here selects a matplotlib backend: figures are built on their own canvas.
"""
