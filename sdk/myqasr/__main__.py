"""`python -m myqasr`: the core commands (plan, eval, info, stats). The installed `myqasr` adds export/run/personalize."""
import sys

from .cli import main

sys.exit(main())
