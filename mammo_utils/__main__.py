"""``python -m mammo_utils`` runs the ``mammo`` command line."""

from .cli import main

raise SystemExit(main())
