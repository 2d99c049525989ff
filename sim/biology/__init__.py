"""The biology, independent of how it is simulated: units and rate conversions, the stages of
the cascade and their plain-language names, the step functions of the cascade, the anatomy and
the circulation chain, where shed cells are delivered, organ soil, and the reference tables
(autopsy series, blood flows) the defaults come from.

Nothing here imports Mesa; the engines in :mod:`sim.engine` call these functions.
"""
