"""``python -m rtl_gen``: see ``python -m rtl_gen --help``."""

from .cli import main

raise SystemExit(main())
