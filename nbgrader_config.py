"""nbgrader configuration for the course (instructor side).

solutions/<lesson>/<lesson>.ipynb is nbgrader's *source* version (solutions and hidden tests);
lessons/<lesson>/<lesson>.ipynb is the *release* version students open. Regenerate the lessons with
`course release` (it runs `nbgrader generate_assignment` and backs up anything it would replace).
"""
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades

from lecturelib.grading.execute import AUTOGRADE_PREPROCESSORS, use_in_validator
from lecturelib.grading.feedback import HideHiddenTests

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "embodied-lm"
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# The stub a student sees in place of each solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Lessons are committed without outputs.
c.ClearOutput.enabled = True
# A test cell a student deleted is put back from the gradebook before autograding.
c.OverwriteCells.add_missing_cells = True
# Lessons are generated whole; the gradebook lives in the repo root only for the instructor workflow.
c.GenerateAssignment.force = True
# A runaway exercise cannot hang grading: each cell gets a time limit (training cells included).
# `course grade --timeout S` overrides it for one run.
c.Execute.timeout = 600
# Execute, with the kernel's replies read in one-second slices: without it, a cell that builds widgets
# can stall until its whole time limit has passed (see lecturelib/grading/execute.py).
c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
use_in_validator()   # Validator.preprocessors is not configurable: c.Validator.preprocessors would be ignored
# Feedback never shows the hidden tests: neither their code nor a traceback that quotes it
# (see lecturelib/grading/feedback.py; nbgrader's default feedback shows both).
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
