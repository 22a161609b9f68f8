"""``python -m nemo_flow``: the ``nemo-flow`` command."""

from nemo_flow.cli import main

raise SystemExit(main())
