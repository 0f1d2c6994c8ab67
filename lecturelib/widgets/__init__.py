"""The ipywidgets demos used by the lessons, one module per lesson topic.

Each demo is a function that builds and returns a widget (so a test can drive it by setting values
and pressing buttons, and read what it computed) and draws with :mod:`lecturelib.plotting`.
"""
