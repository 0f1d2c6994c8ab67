"""LAVA's data: relabeled play windows -> behaviour-cloning samples (frame history, instruction, action).

Every step of every event window is a sample: the frames up to that step, the window's hindsight
instruction, and the action the play agent took there (Lynch et al. 2022 treat relabeled play as
always-optimal demonstrations). With a frozen trunk, :func:`precompute_levels` runs it once per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..world.events import PlayData, Window, annotate, detect_events, select_windows

__all__ = ["BCData", "build_bc_data", "event_windows", "precompute_levels"]


@dataclass
class BCData:
    """Behaviour-cloning samples: the action at (stream, t) under instruction ``texts[text_id]``."""

    play: PlayData
    stream: np.ndarray      # (S,)
    t: np.ndarray           # (S,)
    text_id: np.ndarray     # (S,)
    texts: list[str]
    windows: list[Window] = field(default_factory=list)
    levels: list[np.ndarray] | None = None   # the frozen trunk's features of every frame, (N, T+1, C, h, w)
    obj: np.ndarray | None = None            # (S,) the block each sample's instruction names ...
    arg: np.ndarray | None = None            # (S,) ... and its second block (-1: none)

    def grounding(self, idx: np.ndarray) -> np.ndarray:
        """(B, 6) where things are for samples ``idx``: the palm's (x, y), the named block's, and the second
        block's (the named block's again when the instruction has none). Free in simulation, from the
        play's exact states; an auxiliary target, never an input."""
        s, t = self.stream[idx], self.t[idx]
        o = self.obj[idx]
        a = np.where(self.arg[idx] >= 0, self.arg[idx], o)
        px, py = self.play.gripper[s, t, 0], self.play.gripper[s, t, 1]
        return np.stack([px, py, self.play.x[s, t, o], self.play.y[s, t, o],
                         self.play.x[s, t, a], self.play.y[s, t, a]], 1).astype(np.float32)

    def __len__(self):
        return self.stream.size

    def batch(self, idx: np.ndarray, frames: int):
        """(visual input, actions (B, 3), text ids (B,)) for the sample indices ``idx``.

        The visual input is the frame history (B, T, H, W, 3) uint8, or the trunk's precomputed
        levels [(B, T, C, h, w), ...] when :func:`precompute_levels` filled ``levels``.
        """
        s, t = self.stream[idx], self.t[idx]
        hist = np.clip(t[:, None] - np.arange(frames - 1, -1, -1)[None, :], 0, None)   # (B, T)
        if self.levels is not None:
            visual = [lvl[s[:, None], hist] for lvl in self.levels]
        else:
            visual = self.play.frames[s[:, None], hist]
        return visual, self.play.actions[s, t], self.text_id[idx]


@torch.no_grad()
def precompute_levels(policy, data: BCData, batch_size: int = 256, device=None,
                      progress: bool = True) -> BCData:
    """Run the frozen trunk once over every frame of ``data.play`` (float16), so that training only
    computes the learned layers. Only the frames the samples can see are computed."""
    vision = policy.model.vision
    if any(p.requires_grad for p in vision.trunk.parameters()):
        raise ValueError("precomputing features needs a frozen trunk (LavaConfig(freeze_trunk=True))")
    device = torch.device(device) if device is not None else next(policy.parameters()).device
    frames = data.play.frames
    n, t1 = frames.shape[:2]
    flat = frames.reshape(n * t1, *frames.shape[2:])
    out = None
    it = range(0, flat.shape[0], batch_size)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="trunk features", leave=False)
    for i in it:
        levels = vision.features(torch.from_numpy(flat[i:i + batch_size]).to(device))
        if out is None:
            out = [np.empty((flat.shape[0], *lv.shape[1:]), np.float16) for lv in levels]
        for o, lv in zip(out, levels):
            o[i:i + batch_size] = lv.float().cpu().numpy().astype(np.float16)
    data.levels = [o.reshape(n, t1, *o.shape[1:]) for o in out]
    return data


def build_bc_data(play: PlayData, windows: list[Window]) -> BCData:
    """Every step of every window becomes a sample (the window's instruction, the action taken)."""
    if play.frames is None:
        raise ValueError("behaviour cloning from pixels needs play data with frames (image_size set)")
    texts = sorted({w.instruction.text for w in windows})
    index = {t: i for i, t in enumerate(texts)}
    stream, t, tid, obj, arg = [], [], [], [], []
    for w in windows:
        n = w.end - w.start
        stream.append(np.full(n, w.stream))
        t.append(np.arange(w.start, w.end))
        tid.append(np.full(n, index[w.instruction.text]))
        obj.append(np.full(n, w.instruction.obj))
        arg.append(np.full(n, w.instruction.arg))
    if not stream:
        raise ValueError("no windows to learn from")
    return BCData(play, np.concatenate(stream), np.concatenate(t), np.concatenate(tid), texts, list(windows),
                  obj=np.concatenate(obj), arg=np.concatenate(arg))


def event_windows(play: PlayData, families=("pick", "stack", "table"), seed: int = 0,
                  max_len: int = 48) -> list[Window]:
    """The reference event-selected, annotated windows of ``play`` (library version of the exercise)."""
    rng = np.random.default_rng(seed)
    events = [e for e in detect_events(play) if e.family in families]
    return [Window(s, a, b, annotate(e, rng)) for (s, a, b), e in zip(select_windows(play, events, max_len), events)]
