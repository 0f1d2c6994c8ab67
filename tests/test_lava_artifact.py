"""The LAVA policy file and the lesson artifact (lecturelib.lava.policy, lecturelib.lava.artifact): lesson 07
saves its policy, lesson 08 uses it when valid and trains one otherwise; bad files get one-line reasons."""
from dataclasses import replace

import pytest
import torch

from lecturelib import lava
from lecturelib.lava import (LESSON_RECIPE, LavaConfig, OneHotEncoder, PolicyFileError, artifact_path,
                             check_lesson_policy, lesson_policy, load_policy, make_policy, save_lesson_policy,
                             save_policy)

TINY = replace(LESSON_RECIPE, streams=6, play_steps=60, pretrain_steps=2, steps=3, batch_size=8)


def _policy(encoder=None, **config):
    torch.manual_seed(0)
    return make_policy(encoder or OneHotEncoder(["pick up the red block", "lift the blue cube"]),
                       LavaConfig(frames=1, **config))


def test_artifact_path_is_in_the_course_root(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_ARTIFACTS", raising=False)
    (tmp_path / "nbgrader_config.py").write_text("")
    lesson = tmp_path / "lessons" / "07"
    lesson.mkdir(parents=True)
    assert artifact_path(lesson) == tmp_path / ".course" / "artifacts" / "lava_policy.pt"
    monkeypatch.setenv("COURSE_ARTIFACTS", str(tmp_path / "elsewhere"))
    assert artifact_path(lesson) == tmp_path / "elsewhere" / "lava_policy.pt"


def test_bad_policy_files_get_one_line_reasons(tmp_path):
    with pytest.raises(PolicyFileError, match="no policy file"):
        load_policy(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(PolicyFileError, match="not a readable policy file"):
        load_policy(junk)
    old = tmp_path / "old.pt"
    torch.save({"config": {}, "model": {}}, old)          # a file from before format versions
    with pytest.raises(PolicyFileError, match="format none"):
        load_policy(old)


def test_save_keeps_the_previous_file_and_the_figures(tmp_path):
    path = tmp_path / "lava_policy.pt"
    first, second = _policy(), _policy()
    save_lesson_policy(first, {"train/all": 0.5}, TINY, path)
    save_lesson_policy(second, {"train/all": 0.9}, TINY, path)
    assert load_policy(path).metadata["figures"] == {"train/all": 0.9}
    previous = load_policy(tmp_path / "lava_policy.previous.pt")
    assert previous.metadata["figures"] == {"train/all": 0.5}
    assert previous.metadata["recipe"]["steps"] == TINY.steps


def test_check_lesson_policy_rejects_another_setup(tmp_path):
    path = save_policy(_policy(), tmp_path / "onehot.pt")
    with pytest.raises(PolicyFileError, match="text encoder"):
        check_lesson_policy(path)
    path = save_policy(_policy(image_size=32), tmp_path / "small.pt")
    with pytest.raises(PolicyFileError, match="32-pixel"):
        check_lesson_policy(path)


def test_lesson_policy_uses_a_valid_file_and_trains_without_one(tmp_path):
    messages = []
    policy, info = lesson_policy(path=tmp_path / "none.pt", progress=False, log=messages.append, recipe=TINY)
    assert info["source"].startswith("trained now") and info["recipe"]["steps"] == TINY.steps
    assert any("no usable lesson-07 policy" in m for m in messages)
    saved = save_lesson_policy(policy, {"train/all": 0.7}, info["recipe"], tmp_path / "lava_policy.pt")
    again, info2 = lesson_policy(path=saved, progress=False, log=None, recipe=TINY)
    assert info2["source"].startswith("your lesson-07 policy") and info2["figures"] == {"train/all": 0.7}
    for a, b in zip(policy.model.state_dict().values(), again.model.state_dict().values()):
        torch.testing.assert_close(a, b)
