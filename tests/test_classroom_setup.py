"""classroom/setup_hub.py without starting anything: bad input gives one line and exit code 2; the
per-role Jupyter configs say what each kind of server shows; the shared-Python check."""
from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "classroom"))
import setup_hub  # noqa: E402
from shared_python import reachable_by_all  # noqa: E402


def test_bad_input_is_one_line(tmp_path, capsys):
    code = setup_hub.main(["--instructor", "elmtest_nobody_here", "--no-start", "--state", str(tmp_path / "s"),
                           "--exchange", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    expected = "run as root" if os.geteuid() != 0 else "no system account 'elmtest_nobody_here'"
    assert expected in err, err
    assert not (tmp_path / "s").exists(), "nothing is written when the set-up cannot work"


def test_no_instructor(capsys):
    assert setup_hub.main(["--students", "a,b", "--no-start"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_role_configs(tmp_path):
    room = setup_hub.Classroom(["alice"], ["bob"], state_dir=str(tmp_path), exchange="/srv/x")
    setup_hub.write_jupyter_configs(room)
    student = (tmp_path / "etc" / "student" / "jupyter_server_config.py").read_text()
    grader = (tmp_path / "etc" / "grader" / "jupyter_server_config.py").read_text()
    assert "'nbgrader.server_extensions.formgrader': False" in student and "frame-ancestors" not in student
    assert "frame-ancestors 'self'" in grader          # only the formgrader service may be framed
    assert "frame-ancestors" not in (tmp_path / "etc" / "instructor" / "jupyter_server_config.py").read_text()
    nbg = (tmp_path / "etc" / "student" / "nbgrader_config.py").read_text()
    assert "c.Exchange.root = '/srv/x'" in nbg and "JupyterHubAuthPlugin" in nbg
    page = (tmp_path / "etc" / "student" / "labconfig" / "page_config.json").read_text()
    assert '"@jupyter/nbgrader:formgrader": true' in page


def test_reachable_by_all():
    root = Path(tempfile.mkdtemp(prefix="elmtest-reach-", dir="/tmp"))   # pytest's tmp_path is private
    try:
        root.chmod(0o755)
        folder = root / "shared"
        folder.mkdir(mode=0o755)
        tool = folder / "tool"
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
        assert reachable_by_all(tool)
        assert not reachable_by_all(tool, stat.S_IWOTH)
        folder.chmod(0o700)
        assert not reachable_by_all(tool)
    finally:
        shutil.rmtree(root)


def test_private_checkout_gets_a_shared_copy_of_lecturelib(tmp_path, monkeypatch):
    private = tmp_path / "private-checkout"
    (private / "lecturelib").mkdir(parents=True)
    (private / "lecturelib" / "__init__.py").write_text("")
    private.chmod(0o700)
    monkeypatch.setattr(setup_hub, "REPO", private)
    where = setup_hub.shared_lecturelib(tmp_path / "state")
    assert where == tmp_path / "state" / "lib"
    assert (where / "lecturelib" / "__init__.py").stat().st_mode & 0o777 == 0o644
    monkeypatch.setattr(setup_hub, "REPO", ROOT)
    if setup_hub.reachable_by_all(ROOT / "lecturelib" / "__init__.py", stat.S_IROTH):
        assert setup_hub.shared_lecturelib(tmp_path / "state") == ROOT      # a readable checkout is used as is
