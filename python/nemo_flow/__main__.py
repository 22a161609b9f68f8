"""``python -m nemo_flow``: the ``nemo-flow`` command."""

from nemo_flow.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
