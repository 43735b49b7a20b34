"""``python -m xtalgen.cli``: the console script, for ``accelerate launch -m``."""

import sys

from xtalgen.cli import main

sys.exit(main())
