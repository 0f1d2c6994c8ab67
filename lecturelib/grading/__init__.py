"""The course's grading pipeline: nbgrader, driven safely for students and instructors.

- :mod:`.lessons`  finds the course, its lessons and the student's notebooks, and reads notebooks safely.
- :mod:`.nbgrader_run` runs nbgrader in a throw-away course directory (never in the student's files).
- :mod:`.autograde` grades a student's notebook and reports a per-exercise table.
- :mod:`.release`  regenerates ``lessons/`` from ``solutions/`` and checks that they agree.
- :mod:`.answers`  the written questions (graded by a person) and their model answers for self-learners.
"""
from .lessons import CourseError, Course, find_course

__all__ = ["CourseError", "Course", "find_course"]
