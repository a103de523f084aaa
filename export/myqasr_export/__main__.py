"""`python -m myqasr_export`: the full `myqasr` command."""
import sys

from .cli import main

sys.exit(main())
