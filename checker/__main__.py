"""`python3 -m checker ...` is `medcheck ...`, for machines where the script is not on PATH."""

from checker.cli import run

run()
