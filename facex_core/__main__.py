"""``python -m facex_core ...`` is ``facex-core ...`` (e.g. under ``torchrun -m facex_core train``)."""
import sys

from .cli.main import main

sys.exit(main())
