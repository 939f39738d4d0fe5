"""``python -m spectral_sparse.cli``: the same as the ``spectral-sparse`` command."""

from . import main

raise SystemExit(main())
