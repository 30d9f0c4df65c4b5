"""``python -m exporter``: the ``daylight`` command."""

from exporter.app.cli import main

raise SystemExit(main())
