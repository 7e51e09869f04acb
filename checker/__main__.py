"""`python3 -m checker ...` is `medcheck ...`, for machines where the script is not on PATH."""

import sys

from checker.cli import main

sys.exit(main())
