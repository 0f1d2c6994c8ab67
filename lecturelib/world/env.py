"""The tabletop world behind the gymnasium API, one world (:class:`TabletopEnv`) or a batch
(:class:`TabletopBatch`, for fast closed-loop evaluation of a policy on many scenes at once).

Each episode draws a fresh scene and a feasible instruction; the reward is 1 on the step the
instruction first holds, which also ends the episode (``terminated``); ``truncated`` after
``max_steps``. Observations: ``{"image": (S, S, 3) uint8, "state": (4 + 3K,) float32}``.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .core import N_COLOURS, WorldConfig, WorldState, sample_scenes, step
from .language import FAMILIES, Instruction, sample_instructions, success_many
from .render import render

__all__ = ["TabletopEnv", "TabletopBatch"]


class TabletopEnv(gym.Env):
    """A single tabletop world with a language instruction per episode."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, families=("pick", "stack", "table"), split: str = "train", image_size: int = 64,
                 max_steps: int = 60, world: WorldConfig | None = None, render_mode: str | None = None,
                 display_size: int = 256):
        super().__init__()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.families, self.split = tuple(families), split
        self.image_size, self.max_steps, self.world = image_size, max_steps, world or WorldConfig()
        self.render_mode, self.display_size = render_mode, display_size
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (image_size, image_size, 3), np.uint8),
            "state": spaces.Box(-1.0, 2.0, (4 + 3 * N_COLOURS,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.state: WorldState | None = None
        self.instruction: Instruction | None = None
        self._t = 0

    def _obs(self):
        return {"image": render(self.state, self.image_size)[0], "state": self.state.as_vector()[0]}

    def _info(self):
        return {"instruction": self.instruction.text, "task": self.instruction.task,
                "success": bool(self._success())}

    def _success(self) -> bool:
        fam = FAMILIES.index(self.instruction.family)
        return bool(success_many(self.state, [fam], [self.instruction.obj], [self.instruction.arg])[0])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Options: ``scene`` (a one-world :class:`WorldState`) and/or ``instruction`` (an
        :class:`Instruction`); anything not given is drawn at random."""
        super().reset(seed=seed)
        options = options or {}
        scene = options.get("scene")
        self.state = scene.index(0) if scene is not None else None
        instruction = options.get("instruction")
        if instruction is not None and not isinstance(instruction, Instruction):
            raise ValueError("options['instruction'] must be a lecturelib.world.Instruction")
        while True:
            if scene is None:
                self.state = sample_scenes(1, self.np_random, self.world)
            self.instruction = instruction or sample_instructions(
                self.state, self.np_random, self.families, self.split)[0]
            if self.instruction is not None:
                break
            if scene is not None:
                raise ValueError("no instruction of the requested families is feasible in this scene")
        self._t = 0
        return self._obs(), self._info()

    def step(self, action):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=np.float64).reshape(1, 3)
        step(self.state, action)
        self._t += 1
        done = self._success()
        return self._obs(), float(done), done, self._t >= self.max_steps and not done, self._info()

    def render(self):
        if self.state is None:
            raise RuntimeError("call reset() before render()")
        return render(self.state, self.display_size)[0]


class TabletopBatch:
    """``n`` worlds stepped together, each with its own instruction; finished worlds stay still.

    ``success`` (n,) records whether each world's instruction has held at some step.
    """

    def __init__(self, scenes: WorldState, instructions: list[Instruction], image_size: int = 64):
        if scenes.batch_size != len(instructions):
            raise ValueError(f"{scenes.batch_size} scenes but {len(instructions)} instructions")
        if any(i is None for i in instructions):
            raise ValueError("every world needs an instruction (got None)")
        self.state = scenes.copy()
        self.instructions = list(instructions)
        self.image_size = image_size
        self.family = np.array([FAMILIES.index(i.family) for i in instructions])
        self.obj = np.array([i.obj for i in instructions])
        self.arg = np.array([i.arg for i in instructions])
        self.success = success_many(self.state, self.family, self.obj, self.arg)
        self.steps_taken = np.zeros(len(instructions), int)

    @classmethod
    def sample(cls, n: int, seed: int, families=("pick", "stack", "table"), split: str = "train",
               world: WorldConfig | None = None, image_size: int = 64) -> "TabletopBatch":
        """``n`` fresh scenes, each with a feasible instruction (families drawn uniformly)."""
        rng = np.random.default_rng(seed)
        scenes, instructions = [], []
        while len(instructions) < n:
            s = sample_scenes(n, rng, world)
            for b, ins in enumerate(sample_instructions(s, rng, families, split)):
                if ins is not None and len(instructions) < n:
                    scenes.append(s.index(b))
                    instructions.append(ins)
        return cls(WorldState.concatenate(scenes), instructions, image_size)

    def observe(self) -> np.ndarray:
        """(n, S, S, 3) uint8 frames."""
        return render(self.state, self.image_size)

    def step(self, action: np.ndarray) -> np.ndarray:
        """Apply (n, 3) actions to the unfinished worlds; returns the updated ``success``."""
        action = np.asarray(action, dtype=np.float64).copy()
        action[self.success] = 0.0
        action[self.success, 2] = np.where(self.family[self.success] == 0, 1.0, -1.0)
        step(self.state, action)
        self.steps_taken += ~self.success
        self.success |= success_many(self.state, self.family, self.obj, self.arg)
        return self.success
