"""The lesson-03 HER widget: clicking bits plays an episode; the relabeled transitions shown are right."""
import numpy as np
import pytest

from lecturelib.rl.bitflip import bitflip_reward
from lecturelib.widgets.rl import her_relabeling_explorer


def test_clicking_bits_plays_an_episode_and_relabels_it():
    box = her_relabeling_explorer(n_bits=5, seed=0, k=2)
    assert box.episode is None and "Flip a bit" in box.html.value
    for i in (0, 1, 2):
        box.flip_buttons[i].click()
    ep = box.episode
    assert len(ep) == 3 and ep.actions.tolist() == [0, 1, 2]
    rel = box.relabeled
    assert len(rel["action"]) == 2 * 3, "future with k = 2: two hindsight goals per transition"
    assert np.array_equal(rel["reward"], bitflip_reward(rel["next_obs"], rel["goal"]))
    assert np.any(rel["reward"] == 0), "the last transition always reaches a hindsight goal"
    assert "hindsight transitions with reward 0" in box.html.value
    box.strategy.value = "final"
    assert len(box.relabeled["action"]) == 3 and np.all(box.relabeled["goal"] == ep.obs[-1])
    box.k_slider.value = 3
    box.strategy.value = "episode"
    assert len(box.relabeled["action"]) == 9


def test_reaching_the_goal_ends_the_episode_and_new_episode_resets():
    box = her_relabeling_explorer(n_bits=4, seed=1)
    obs = box.env.unwrapped._obs()
    for i in np.flatnonzero(obs["observation"] != obs["desired_goal"]):
        box.flip_buttons[int(i)].click()
    assert "goal reached" in box.children[1].value
    n = len(box.episode)
    box.flip_buttons[0].click()
    assert len(box.episode) == n, "no flips after the episode ended"
    assert box.original["reward"][-1] == 0.0
    box.new_button.click()
    assert box.episode is None


def test_bad_size_raises():
    with pytest.raises(ValueError):
        her_relabeling_explorer(n_bits=1)
