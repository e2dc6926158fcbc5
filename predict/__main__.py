"""``python -m predict``: the same as the ``predict`` command."""
import sys

from predict.cli import main

sys.exit(main())
