"""``python -m bo_nas.cli``: the same as the ``bo-nas`` command."""

import sys

from bo_nas.cli import main

sys.exit(main())
