"""Play data, events and event-selectable hindsight relabeling (Lynch et al. 2022).

Interactive Language turns hours of unlabeled play into a labeled dataset: annotators scrub through
the replay, *select a few-second fragment around something that happened* and describe it in their
own words. This module provides the pieces:

- :func:`generate_play`: a long, unlabeled stream of play (frames, actions, exact states) from the
  :class:`~lecturelib.world.expert.PlayAgent`, batched over many streams, no resets;
- :func:`detect_events`: what happened and when, read off the exact states (a block was lifted, put
  on another block, put on the table, moved to a side of the table);
- :func:`select_windows` and :func:`annotate`: the reference event-selected windows (from the start
  of the behaviour to the event) and their templated instructions;
- :func:`random_windows`: the baseline the paper compares with, fragments cut at random;
- :func:`label_correct`: does a window's label describe it? (the end state satisfies the
  instruction, the start state does not), measured against the symbolic state.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import BLOCK, WorldConfig, WorldState, sample_scenes, step
from .expert import PlayAgent, PlayConfig
from .language import FAMILIES, Instruction, instruction_text, success_many
from .render import render
from .symbolic import REGIONS

__all__ = ["PlayData", "generate_play", "Event", "detect_events", "Window", "select_windows",
           "annotate", "random_windows", "label_correct"]


@dataclass
class PlayData:
    """``N`` streams of ``T`` play steps: states 0..T, actions 0..T-1 (action t leads from state t to t+1)."""

    frames: np.ndarray | None   # (N, T+1, H, W, 3) uint8, or None when rendering was skipped
    actions: np.ndarray         # (N, T, 3) float32
    present: np.ndarray         # (N, K) bool
    x: np.ndarray               # (N, T+1, K) block centres
    y: np.ndarray               # (N, T+1, K) block bottoms
    gripper: np.ndarray         # (N, T+1, 2)
    closed: np.ndarray          # (N, T+1) bool
    held: np.ndarray            # (N, T+1) int, -1 for none

    @property
    def n_streams(self) -> int:
        return self.actions.shape[0]

    @property
    def n_steps(self) -> int:
        return self.actions.shape[1]

    @classmethod
    def from_trajectory(cls, states: list[WorldState], actions, image_size: int | None = 64) -> "PlayData":
        """One stream from a list of T+1 one-world states and T actions (e.g. your own teleoperation)."""
        if len(states) != len(actions) + 1 or len(actions) < 1:
            raise ValueError(f"need T >= 1 actions and T + 1 states, got {len(actions)} and {len(states)}")
        if any(s.batch_size != 1 for s in states):
            raise ValueError("every state must hold exactly one world")
        frames = None
        if image_size is not None:
            frames = render(WorldState.concatenate(states), image_size)[None]
        return cls(frames, np.asarray(actions, np.float32).reshape(1, -1, 3), states[0].present.copy(),
                   np.stack([s.x[0] for s in states])[None], np.stack([s.y[0] for s in states])[None],
                   np.stack([s.gripper[0] for s in states])[None], np.array([[s.closed[0] for s in states]]),
                   np.array([[s.held[0] for s in states]]))

    def states(self, stream, t) -> WorldState:
        """The exact states at (``stream[i]``, ``t[i]``) as one batched :class:`WorldState`."""
        stream = np.atleast_1d(np.asarray(stream, int))
        t = np.atleast_1d(np.asarray(t, int))
        if np.any((t < 0) | (t > self.n_steps)) or np.any((stream < 0) | (stream >= self.n_streams)):
            raise ValueError("stream or time index out of range")
        return WorldState(self.present[stream].copy(), self.x[stream, t].copy(), self.y[stream, t].copy(),
                          self.gripper[stream, t].copy(), self.closed[stream, t].copy(), self.held[stream, t].copy())


def generate_play(n_streams: int, n_steps: int, seed: int = 0, image_size: int | None = 64,
                  world: WorldConfig | None = None, play: PlayConfig | None = None,
                  progress: bool = False) -> PlayData:
    """Run the play agent in ``n_streams`` worlds for ``n_steps`` steps each (no resets).

    ``image_size=None`` skips rendering (states and actions only). The agent's intentions are not kept.
    """
    if n_streams < 1 or n_steps < 1:
        raise ValueError(f"need n_streams >= 1 and n_steps >= 1, got {n_streams}, {n_steps}")
    rng = np.random.default_rng(seed)
    state = sample_scenes(n_streams, rng, world)
    agent = PlayAgent(n_streams, rng, play)
    k = state.present.shape[1]
    frames = None
    if image_size is not None:
        frames = np.empty((n_streams, n_steps + 1, image_size, image_size, 3), np.uint8)
    x = np.empty((n_streams, n_steps + 1, k))
    y = np.empty_like(x)
    gripper = np.empty((n_streams, n_steps + 1, 2))
    closed = np.empty((n_streams, n_steps + 1), bool)
    held = np.empty((n_streams, n_steps + 1), int)
    actions = np.empty((n_streams, n_steps, 3), np.float32)

    def record(t):
        x[:, t], y[:, t], gripper[:, t] = state.x, state.y, state.gripper
        closed[:, t], held[:, t] = state.closed, state.held
        if frames is not None:
            frames[:, t] = render(state, image_size)

    steps = range(n_steps)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc="play", leave=False)
    record(0)
    for t in steps:
        a = agent.act(state)
        actions[:, t] = a
        step(state, a)
        record(t + 1)
    return PlayData(frames, actions, state.present.copy(), x, y, gripper, closed, held)


@dataclass(frozen=True)
class Event:
    """Something that happened in stream ``stream``: it is complete in state ``t``.

    ``t_grasp`` is the state in which the block was first held for this event.
    """

    stream: int
    t: int
    family: str
    obj: int
    arg: int
    t_grasp: int


def detect_events(play: PlayData) -> list[Event]:
    """All events of every stream, sorted by (stream, t).

    - ``pick``: a held block's bottom rises to ``LIFT_HEIGHT`` (the first time since its grasp);
    - ``stack``: a released block lands on another block;
    - ``table``: a released block lands on the table, having been grasped from another block;
    - ``region``: a released block lands on the table on a side where it was not before the grasp.
    """
    from .core import LIFT_HEIGHT

    events = []
    for n in range(play.n_streams):
        held = play.held[n]
        grasp_t, lifted = -1, False
        for t in range(1, play.n_steps + 1):
            k = held[t]
            if k >= 0 and held[t - 1] != k:
                grasp_t, lifted = t, False       # t >= 1, so the state before the grasp exists
            if k >= 0 and not lifted and play.y[n, t, k] >= LIFT_HEIGHT - 1e-9:
                lifted = True
                events.append(Event(n, t, "pick", int(k), -1, grasp_t))
            dropped = held[t - 1]
            if dropped >= 0 and k != dropped and grasp_t >= 0:
                s = play.states([n, n], [t, grasp_t - 1])     # after the landing, just before the grasp
                b = np.full(2, dropped)
                if play.y[n, t, dropped] > 1e-6:
                    below = _block_below(play, n, t, dropped)
                    was_on = success_many(s.index(1), [FAMILIES.index("stack")], b[:1], [below])[0]
                    if not was_on:      # put back where it came from: nothing happened
                        events.append(Event(n, t, "stack", int(dropped), below, grasp_t))
                else:
                    came_from_block = play.y[n, grasp_t - 1, dropped] > 1e-6
                    if came_from_block:
                        events.append(Event(n, t, "table", int(dropped), -1, grasp_t))
                    side = int(np.digitize(play.x[n, t, dropped], [1 / 3, 2 / 3]))
                    before = success_many(s.index(1), [FAMILIES.index("region")], b[:1], [side])[0]
                    if not before:
                        events.append(Event(n, t, "region", int(dropped), side, grasp_t))
                grasp_t = -1
    return events


def _block_below(play: PlayData, n: int, t: int, k: int) -> int:
    others = np.flatnonzero(play.present[n] & (np.arange(play.present.shape[1]) != k))
    match = others[(np.abs(play.y[n, t, others] + BLOCK - play.y[n, t, k]) < 1e-6)
                   & (np.abs(play.x[n, t, others] - play.x[n, t, k]) < BLOCK - 1e-6)]
    return int(match[0])


@dataclass(frozen=True)
class Window:
    """States ``start``..``end`` (actions ``start``..``end-1``) of ``stream``, labeled ``instruction``."""

    stream: int
    start: int
    end: int
    instruction: Instruction


def behaviour_start(held: np.ndarray, t_grasp: int) -> int:
    """The state in which the gripper last became empty at or before ``t_grasp`` (0 if never)."""
    released = np.flatnonzero((held[:-1] >= 0) & (held[1:] < 0)) + 1     # states just after a release
    released = released[released <= t_grasp]
    return int(released[-1]) if released.size else 0


def select_windows(play: PlayData, events: list[Event], max_len: int = 48,
                   families=FAMILIES) -> list[tuple[int, int, int]]:
    """Reference event-selected windows: ``(stream, start, end)`` for every event of ``families``.

    The window ends at the event and starts where the behaviour started (the gripper had just let go
    of the previous block), at most ``max_len`` steps earlier.
    """
    out = []
    for ev in events:
        if ev.family in families:
            start = max(behaviour_start(play.held[ev.stream], ev.t_grasp), ev.t - max_len)
            out.append((ev.stream, start, ev.t))
    return out


def annotate(event: Event, rng: np.random.Generator, split: str = "train") -> Instruction:
    """Hindsight label of an event: a paraphrase drawn from ``split`` (open vocabulary, templated)."""
    return Instruction(event.family, event.obj, event.arg,
                       instruction_text(event.family, event.obj, event.arg, rng, split))


def random_windows(play: PlayData, events: list[Event], n: int, lengths, rng: np.random.Generator,
                   families=FAMILIES) -> list[Window]:
    """The baseline: ``n`` fragments at random places with lengths drawn from ``lengths``.

    Each is described by the event (of ``families``) that ends nearest to the fragment's end, the best
    a describer who watches a random fragment can do.
    """
    lengths = np.asarray(lengths, int)
    if lengths.size == 0 or lengths.min() < 1 or lengths.max() > play.n_steps:
        raise ValueError("lengths must be a non-empty set of window lengths in [1, n_steps]")
    by_stream: dict[int, list[Event]] = {}
    for ev in events:
        if ev.family in families:
            by_stream.setdefault(ev.stream, []).append(ev)
    streams = sorted(by_stream)
    if not streams:
        raise ValueError("no events of the requested families to describe the windows with")
    out = []
    for _ in range(n):
        s = streams[rng.integers(len(streams))]
        length = int(lengths[rng.integers(lengths.size)])
        start = int(rng.integers(0, play.n_steps - length + 1))
        end = start + length
        ev = min(by_stream[s], key=lambda e: abs(e.t - end))
        out.append(Window(s, start, end, annotate(ev, rng)))
    return out


def label_correct(play: PlayData, windows: list[Window]) -> np.ndarray:
    """(len(windows),) bool: the instruction holds in the window's last state and not in its first."""
    if not windows:
        return np.zeros(0, bool)
    stream = np.array([w.stream for w in windows])
    fam = np.array([FAMILIES.index(w.instruction.family) for w in windows])
    obj = np.array([w.instruction.obj for w in windows])
    arg = np.array([w.instruction.arg for w in windows])
    end = success_many(play.states(stream, [w.end for w in windows]), fam, obj, arg)
    start = success_many(play.states(stream, [w.start for w in windows]), fam, obj, arg)
    return end & ~start
