"""Reading ATOF runs into call trees, and what the ``nemo-flow`` command shows of them: the
HTML viewer, run diffs and statistics. Private: the command line and ``nemo_flow.replay`` are
the public faces."""
