"""Generate the student lessons from the solutions (nbgrader generate_assignment), check that they agree,
and give a student a fresh copy of a lesson. Whatever would be replaced is backed up first."""
from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path

from .lessons import Course, CourseError
from .nbgrader_run import Workspace


def backup(course: Course, path: Path) -> Path:
    """Copy ``path`` to .course/backups/<lesson>/<name>-<timestamp>.ipynb and return the copy."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    dest = course.state_dir / "backups" / path.parent.name / f"{path.stem}-{stamp}{path.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, dest)
    return dest


def _same_notebook(a: Path, b: Path) -> bool:
    try:
        return json.loads(a.read_text(encoding="utf-8")) == json.loads(b.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def release(course: Course, lessons: list[str], *, check: bool = False) -> list[str]:
    """Regenerate (or, with ``check``, compare) lessons/<id>/ for each lesson.

    Returns one line per lesson saying what happened. With ``check``, raises CourseError listing the
    lessons that differ from what nbgrader would generate.
    """
    report, stale = [], []
    for lesson in lessons:
        with Workspace(course, lesson) as ws:
            ws.generate()
            generated_dir = ws.root / "release" / lesson
            target_dir = course.lessons_dir / lesson
            generated = sorted(p.relative_to(generated_dir) for p in generated_dir.rglob("*") if p.is_file())
            differing = []
            for rel in generated:
                new, old = generated_dir / rel, target_dir / rel
                same = old.exists() and (_same_notebook(new, old) if rel.suffix == ".ipynb"
                                         else new.read_bytes() == old.read_bytes())
                if not same:
                    differing.append(rel)
            if check:
                if differing:
                    stale.append(f"{lesson} ({', '.join(map(str, differing))})")
                continue
            if not differing:
                report.append(f"{lesson}: up to date")
                continue
            saved = []
            for rel in differing:
                old = target_dir / rel
                if old.exists():
                    saved.append(str(backup(course, old).relative_to(course.root)))
                old.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(generated_dir / rel, old)
            line = f"{lesson}: regenerated {', '.join(map(str, differing))}"
            if saved:
                line += f" (previous version saved to {', '.join(saved)})"
            report.append(line)
    if check and stale:
        raise CourseError("lessons/ differs from what nbgrader generates from solutions/ for: "
                          + "; ".join(stale) + ". Run `course release` to regenerate.")
    if check:
        report.append(f"lessons/ is in sync with solutions/ ({len(lessons)} lessons)")
    return report


def reset(course: Course, lesson: str) -> list[str]:
    """Give the student a fresh copy of a lesson; the old notebook is backed up first."""
    target = course.lesson_notebook(lesson)
    lines = []
    if target.exists():
        saved = backup(course, target)
        lines.append(f"your previous notebook is saved as {saved.relative_to(course.root)}")
    with Workspace(course, lesson) as ws:
        fresh = ws.generate()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".ipynb.tmp")
        shutil.copyfile(fresh, tmp)
        tmp.replace(target)
    lines.append(f"{target.relative_to(course.root)} is a fresh copy of the lesson")
    return lines
