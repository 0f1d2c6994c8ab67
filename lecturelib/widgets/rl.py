"""Widgets of lesson 03: play a bit-flipping episode by hand and watch hindsight relabeling.

:func:`her_relabeling_explorer` shows the state, the goal and one button per bit. Every flip is a step of
the episode; the table below lists the episode's transitions with the goal it was given (reward -1
almost everywhere) and, for the chosen HER strategy, the relabeled goals and their recomputed rewards.
"""
from __future__ import annotations

import html

import numpy as np

from ..rl.bitflip import BitFlippingEnv
from ..rl.her import STRATEGIES, Episode, relabel_episode, original_transitions

__all__ = ["her_relabeling_explorer"]


def _bits(x) -> str:
    return "".join(str(int(b)) for b in x)


def _table(episode: Episode | None, relabeled: dict | None, original: dict | None) -> str:
    if episode is None:
        return "<p><i>Flip a bit to start the episode.</i></p>"
    rows = ["<tr><th>t</th><th>s<sub>t</sub> → s<sub>t+1</sub></th><th>action</th><th>goal given</th>"
            "<th>reward</th><th>hindsight goals (reward)</th></tr>"]
    per_t: dict[int, list[str]] = {}
    for t, goal, reward in zip(relabeled["t"], relabeled["goal"], relabeled["reward"]):
        colour = "green" if reward == 0 else "gray"
        per_t.setdefault(int(t), []).append(f"<span style='color:{colour}'>{_bits(goal)} ({reward:+.0f})</span>")
    for t in range(len(episode)):
        r = original["reward"][t]
        rows.append(
            f"<tr><td>{t}</td><td><code>{_bits(episode.obs[t])} → {_bits(episode.obs[t + 1])}</code></td>"
            f"<td>flip {int(episode.actions[t])}</td><td><code>{_bits(episode.desired_goal)}</code></td>"
            f"<td style='color:{'green' if r == 0 else 'red'}'>{r:+.0f}</td>"
            f"<td><code>{', '.join(per_t.get(t, [])) or '–'}</code></td></tr>")
    successes = int((relabeled["reward"] == 0).sum())
    summary = (f"<p>original transitions with reward 0: <b>{int((original['reward'] == 0).sum())}</b> of "
               f"{len(episode)}; hindsight transitions with reward 0: <b>{successes}</b> of "
               f"{len(relabeled['reward'])}</p>")
    return "<table>" + "".join(rows) + "</table>" + summary


def her_relabeling_explorer(n_bits: int = 6, seed: int = 0, k: int = 2):
    """Play bit flipping by hand and see the transitions HER adds.

    Returns a VBox with attributes: ``flip_buttons`` (one Button per bit), ``new_button``,
    ``strategy`` (Dropdown), ``k_slider`` (IntSlider), ``html`` (the table), ``env``, and after each
    change ``episode`` (:class:`~lecturelib.rl.her.Episode` or None) and ``relabeled`` (the dict of
    hindsight transitions) so that a test can check what is shown.
    """
    import ipywidgets as widgets

    if n_bits < 2 or n_bits > 16:
        raise ValueError(f"n_bits must be between 2 and 16 for the widget, got {n_bits}")
    env = BitFlippingEnv(n_bits=n_bits, max_steps=2 * n_bits)
    flip_buttons = [widgets.Button(description=str(i), layout=widgets.Layout(width="36px")) for i in range(n_bits)]
    new_button = widgets.Button(description="new episode", button_style="info")
    strategy = widgets.Dropdown(options=list(STRATEGIES), value="future", description="strategy")
    k_slider = widgets.IntSlider(value=k, min=1, max=4, description="k")
    status = widgets.HTML()
    table = widgets.HTML()
    box = widgets.VBox([widgets.HBox([widgets.Label("flip bit:"), *flip_buttons]), status,
                        widgets.HBox([new_button, strategy, k_slider]), table])
    box.flip_buttons, box.new_button, box.strategy, box.k_slider, box.html, box.env = (
        flip_buttons, new_button, strategy, k_slider, table, env)
    state = {"obs": None, "actions": [], "states": [], "done": False, "episodes": 0}

    def new_episode(*_):
        obs, _ = env.reset(seed=seed + state["episodes"])
        state["episodes"] += 1
        state.update(obs=obs, actions=[], states=[obs["observation"].copy()], done=False)
        refresh()

    def refresh(*_):
        obs = state["obs"]
        diff = "".join("^" if s != g else " " for s, g in zip(obs["observation"], obs["desired_goal"]))
        note = " <b style='color:green'>goal reached!</b>" if state["done"] and np.array_equal(
            obs["observation"], obs["desired_goal"]) else (" <b>episode over</b>" if state["done"] else "")
        status.value = (f"<pre>state {_bits(obs['observation'])}\ngoal  {_bits(obs['desired_goal'])}\n"
                        f"      {html.escape(diff)}</pre>step {len(state['actions'])}{note}")
        if state["actions"]:
            ep = Episode(obs=np.stack(state["states"]), achieved_goal=np.stack(state["states"]),
                         desired_goal=obs["desired_goal"], actions=np.array(state["actions"]))
            box.episode = ep
            box.original = original_transitions(ep, env.compute_reward)
            box.relabeled = relabel_episode(ep, strategy.value, k_slider.value, np.random.default_rng(seed),
                                            env.compute_reward)
            table.value = _table(ep, box.relabeled, box.original)
        else:
            box.episode, box.relabeled, box.original = None, None, None
            table.value = _table(None, None, None)

    def flip(i):
        if state["done"]:
            return
        obs, _, terminated, truncated, _ = env.step(i)
        state["obs"] = obs
        state["actions"].append(i)
        state["states"].append(obs["observation"].copy())
        state["done"] = terminated or truncated
        refresh()

    for i, button in enumerate(flip_buttons):
        button.on_click(lambda _b, i=i: flip(i))
    new_button.on_click(new_episode)
    strategy.observe(refresh, names="value")
    k_slider.observe(refresh, names="value")
    box.flip = flip
    new_episode()
    return box
