"""`python -m lecturelib.website`: build the course website (see build.py)."""
import sys

from .build import main

sys.exit(main())
