"""``python -m s3lab.cli``: the same as the ``s3lab`` command."""

import sys

from s3lab.cli import main

sys.exit(main())
