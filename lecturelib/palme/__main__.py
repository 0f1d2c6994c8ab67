"""``python -m lecturelib.palme``: the longer run (the same as ``course train palme``)."""
from .recipe import train_main

raise SystemExit(train_main())
