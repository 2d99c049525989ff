"""Many patients: what to run, kept apart from where it runs.

* ``seeds`` - one random-stream convention (a seed, child ``i`` for replicate ``i``) and one
  meaning of "no seed";
* ``outcomes`` - one definition of each per-patient output (sweep columns, sensitivity
  outputs, ``patients.csv``);
* ``executors`` - one interface (``map`` in order, ``as_completed`` with failures) over
  serial, local-process and Dask execution;
* ``replicates`` - replicates of a scenario and comparisons of hypotheses on common random
  numbers;
* ``design``, ``store``, ``sweep`` - experiment files and their runs, the result folder, and
  running a sweep;
* ``sensitivity``, ``calibrate``, ``validation`` - Sobol/Morris indices, fitting soil
  affinities, scoring against the autopsy table;
* ``limits`` - the cost and memory a run will need, checked before it starts.
"""
