"""The per-patient Mesa engine: the model (orchestration only), its agents, the cohort store,
colonies, dissemination, the ledger of reached/lost cells, the clinic, and the plain-data
result of a patient (:mod:`sim.engine.results`, which imports no Mesa).
"""
