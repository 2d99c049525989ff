"""Many patients: seeds, replicates, the executor that runs them (serial, local processes or
Dask), sweeps and their result store, sensitivity analysis, calibration and validation, and the
cost and memory limits checked before a run starts.
"""
