"""Pictures: the shared style and stage labels, figures of one run and of sweeps, the body-map
layout (drawn by matplotlib and as SVG), and animations. Nothing here selects a matplotlib
backend: figures are built on their own canvas.
"""
