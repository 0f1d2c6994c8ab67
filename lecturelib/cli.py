"""The `course` command: list lessons, grade and validate exercises, reset a lesson, release lessons
from solutions (instructors), check the set-up, and train the larger models.

Exit codes: 0 success (for `grade`: full marks), 1 a check or an exercise failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import sys

from .grading.lessons import CourseError, attempted, find_course, read_notebook


def _cmd_list(args) -> int:
    import json

    course = find_course()
    grades_file = course.state_dir / "grades.json"
    try:
        grades = json.loads(grades_file.read_text()) if grades_file.exists() else {}
    except ValueError:
        grades = {}
    rows = [("lesson", "exercises", "points", "status")]
    for lesson in course.lesson_ids():
        exercises = course.exercises(lesson)
        points = sum(e.points for e in exercises)
        nb_path = course.lesson_notebook(lesson)
        if not nb_path.exists():
            status = "missing (course reset " + lesson + ")"
        else:
            try:
                done, total = attempted(read_notebook(nb_path))
                status = "not started" if done == 0 else f"in progress ({done}/{total} solutions written)"
            except CourseError:
                status = "unreadable notebook (course reset " + lesson + ")"
        if lesson in grades:
            g = grades[lesson]
            status += f"; last grade {g['score']:g}/{g['max_score']:g} ({g['when'][:16].replace('T', ' ')})"
        rows.append((lesson, str(len(exercises)), f"{points:g}", status))
        if args.verbose:
            for e in exercises:
                rows.append(("  " + e.grade_id, "", f"{e.points:g}", "written: graded by a person" if e.written else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    return 0


def _cmd_grade(args) -> int:
    from .grading.autograde import grade, save_report

    course = find_course()
    lesson, path = course.resolve_notebook(args.target, args.lesson)
    print(f"Grading {path} as lesson {lesson} (each cell may run {args.timeout} s)...", flush=True)
    report = grade(course, lesson, path, timeout=args.timeout, keep=args.keep)
    print(report.table())
    if args.json:
        import json
        from dataclasses import asdict

        with open(args.json, "w") as fh:
            json.dump({**asdict(report), "score": report.score, "max_score": report.max_score}, fh, indent=1)
    if path.resolve().is_relative_to(course.lessons_dir.resolve()):
        save_report(course, report)
    if not report.graded:
        return 2
    return 0 if report.score >= report.max_score else 1


def _cmd_answer(args) -> int:
    """The model answers of a lesson's written questions, for those the student has answered."""
    from .grading.answers import show

    course = find_course()
    lesson, path = course.resolve_notebook(args.target, args.lesson)
    text, complete = show(course, lesson, path)
    print(text)
    return 0 if complete else 1


def _cmd_autograde(args) -> int:
    """(instructors) every collected submission, in parallel sandboxes; nbgrader records the grades."""
    from pathlib import Path

    from .grading.batch import autograde_all
    from .grading.sandbox import status_line

    print(f"Autograding {args.assignment} in {args.course_dir} with {args.jobs} parallel jobs; {status_line()}",
          flush=True)
    result = autograde_all(Path(args.course_dir), args.assignment, jobs=args.jobs)
    print(f"{result['students']} submissions in {result['seconds']:.0f} s ({result['per_minute']:g} per minute); "
          f"grades written to {Path(args.course_dir) / 'gradebook.db'}")
    for student, error in result["errors"].items():
        print(f"  note: {student}: {error}; its test cells were recorded as failed")
    return 1 if result["errors"] else 0


def _cmd_validate(args) -> int:
    """nbgrader validate on the notebook as it is (the Validate button), without touching it."""
    import subprocess
    import tempfile
    import shutil
    from pathlib import Path

    from .grading.nbgrader_run import nbgrader_env

    course = find_course()
    lesson, path = course.resolve_notebook(args.target, args.lesson)
    read_notebook(path)
    with tempfile.TemporaryDirectory(prefix="course-validate-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        (Path(tmp) / "nbgrader_config.py").write_text(
            "from lecturelib.grading.execute import use_in_validator\nuse_in_validator()\n")
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(copy)], cwd=tmp,
                              env=nbgrader_env(), capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).replace(str(copy), str(path))
    noise = ("[ValidateApp |", "Kernel is running over TCP")
    print("\n".join(l for l in out.splitlines() if not any(n in l for n in noise) or "ERROR" in l))
    return 0 if "Success!" in out else 1


def _cmd_release(args) -> int:
    from .grading.release import release

    course = find_course()
    lessons = [course.resolve_lesson(x) for x in args.lessons] if args.lessons else course.lesson_ids()
    for line in release(course, lessons, check=args.check):
        print(line)
    return 0


def _cmd_reset(args) -> int:
    from .grading.release import reset

    course = find_course()
    for line in reset(course, course.resolve_lesson(args.lesson)):
        print(line)
    return 0


def _cmd_doctor(args) -> int:
    from .grading.doctor import doctor

    return doctor()


def _cmd_train(args) -> int:
    if args.model == "lava":
        from . import lava

        return int(lava.train_main(args.rest) or 0)
    if args.model == "palme":
        from . import palme

        return int(palme.train_main(args.rest) or 0)
    raise CourseError(f"unknown model {args.model!r}")


def _cmd_stats(args) -> int:
    from pathlib import Path

    from .grading.stats import main as stats_main

    return stats_main(args.assignment, Path(args.gradebook), Path(args.out))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("list", help="lessons, their exercises and points, and your status per lesson")
    s.add_argument("-v", "--verbose", action="store_true", help="also list each exercise")
    s.set_defaults(func=_cmd_list)

    for name, func, text in [("grade", _cmd_grade, "autograde a notebook (hidden tests included) and print "
                              "a score per exercise; never modifies the notebook"),
                             ("validate", _cmd_validate, "run nbgrader validate on a notebook (the Validate "
                              "button), visible tests only")]:
        s = sub.add_parser(name, help=text)
        s.add_argument("target", help="a lesson (e.g. 02_meta_learning, or 02) or a path to a notebook")
        s.add_argument("--lesson", help="the lesson a renamed notebook belongs to")
        if name == "grade":
            s.add_argument("--timeout", type=int, default=600, help="seconds each cell may run (default 600)")
            s.add_argument("--keep", metavar="PATH", help="save the executed, graded copy here")
            s.add_argument("--json", metavar="PATH", help="also write the report as JSON")
        s.set_defaults(func=func)

    s = sub.add_parser("answer", help="the model answer of a lesson's written question, once you have "
                                      "written yours (a grader scores written answers in a class)")
    s.add_argument("target", help="a lesson (e.g. 05) or a path to your notebook")
    s.add_argument("--lesson", help="the lesson a renamed notebook belongs to")
    s.set_defaults(func=_cmd_answer)

    s = sub.add_parser("autograde", help="(instructors) autograde every collected submission of an assignment "
                                         "in parallel sandboxes, in an nbgrader course folder")
    s.add_argument("assignment", help="the assignment id, e.g. 00_getting_started")
    s.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    s.add_argument("--course-dir", default=".", help="the nbgrader course folder (default: here)")
    s.set_defaults(func=_cmd_autograde)

    s = sub.add_parser("reset", help="a fresh copy of a lesson; your old notebook is backed up first")
    s.add_argument("lesson")
    s.set_defaults(func=_cmd_reset)

    s = sub.add_parser("release", help="(instructors) regenerate lessons/ from solutions/ with nbgrader")
    s.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    s.add_argument("--check", action="store_true", help="only check that lessons/ is in sync; exit 1 if not")
    s.set_defaults(func=_cmd_release)

    s = sub.add_parser("stats", help="(instructors) per exercise: how many students scored full, partial, "
                                     "zero marks, from the gradebook (CSV and PNG)")
    s.add_argument("assignment", help="an assignment in the gradebook, e.g. 00_getting_started")
    s.add_argument("--gradebook", default="gradebook.db", help="nbgrader's gradebook (default ./gradebook.db)")
    s.add_argument("--out", default="stats", help="folder for <assignment>_stats.csv and .png (default ./stats)")
    s.set_defaults(func=_cmd_stats)

    s = sub.add_parser("doctor", help="check Python, torch and the device, learn2learn, the kernel and "
                                      "the JupyterLab extensions")
    s.set_defaults(func=_cmd_doctor)

    s = sub.add_parser("train", help="train a model with its full budget (e.g. `course train lava`)")
    s.add_argument("model", choices=["lava", "palme"])
    s.add_argument("rest", nargs=argparse.REMAINDER, help="options passed to the trainer (--help for them)")
    s.set_defaults(func=_cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except CourseError as err:
        print(f"course {args.command}: error: {err}", file=sys.stderr)
        return 1 if args.command == "release" and getattr(args, "check", False) else 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
