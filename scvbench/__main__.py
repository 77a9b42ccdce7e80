"""Allow ``python -m scvbench``."""

import sys

from scvbench.cli import main

sys.exit(main())
