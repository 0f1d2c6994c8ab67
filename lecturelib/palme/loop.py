"""Closing the loop (PaLM-E, Driess et al. 2023, section 6): the model looks at the scene and says the
next step of its plan, a low-level policy carries that step out, the model looks again.

    planner(state, tasks) -> "First grasp the orange object and place it on the table, ..."
    parse_step(...)       -> Instruction("table", orange)  ->  executor acts in a TabletopBatch

Each planning round runs the parsed steps in a :class:`~lecturelib.world.env.TabletopBatch` (the worlds
whose step holds stay still), with the scripted expert (near-perfect control: the failures are the
planner's) or a language-conditioned policy such as LAVA (lesson 07) as executor. The world's own
search-based planner (:func:`oracle_planner`) gives the control-only reference, so planning and control
errors can be told apart. As in play, the arm goes on from where the last step left it (after letting go
of a block that a failed step left in its hand).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..lava.evaluation import FrameHistory
from ..world.core import COLOURS, WorldConfig, WorldState, sample_scenes, step as world_step
from ..world.env import TabletopBatch
from ..world.expert import expert_action
from ..world.language import Instruction, success_many
from ..world.planning import plan, plan_text
from ..world.render import render
from ..world.symbolic import scene_of
from .decoding import generate
from .model import PaLME
from .sentences import Example, make_prompt
from .tasks import observe

__all__ = ["Task", "two_step_tasks", "parse_step", "oracle_planner", "model_planner", "execute", "let_go",
           "LoopResult", "closed_loop"]

DISPLAY = 128     # size of the recorded frames


@dataclass
class Task:
    """A long-horizon goal: ``("grasping", a, -1)`` or ``("stacking", a, b)``."""

    kind: str
    a: int
    b: int = -1

    def question(self) -> str:
        if self.kind == "grasping":
            return f"How to grasp the {COLOURS[self.a]} object?"
        return f"How to stack the {COLOURS[self.a]} object on top of the {COLOURS[self.b]} object?"

    def done(self, state: WorldState) -> np.ndarray:
        n = state.batch_size
        if self.kind == "grasping":
            return success_many(state, [0] * n, [self.a] * n, [-1] * n)
        return success_many(state, [1] * n, [self.a] * n, [self.b] * n)


def two_step_tasks(n: int, seed: int = 0, world: WorldConfig | None = None) -> tuple[WorldState, list[Task]]:
    """``n`` scenes, each with a task whose shortest plan has exactly two steps, alternating between
    grasping a covered block and stacking X on Y when Y is covered (the slide's planning tables)."""
    rng = np.random.default_rng(seed)
    scenes, tasks = [], []
    while len(tasks) < n:
        s = sample_scenes(4 * n, rng, world)
        for b in range(s.batch_size):
            if len(tasks) >= n:
                break
            scene = scene_of(s, b)
            if len(tasks) % 2 == 0:
                options = [Task("grasping", k) for st in scene.stacks for k in st[:-1] if st.index(k) == len(st) - 2]
            else:
                covered = [st[-2] for st in scene.stacks if len(st) >= 2]
                clear = [st[-1] for st in scene.stacks]
                options = [Task("stacking", x, y) for y in covered for x in clear if x != y and scene.support(x) != y]
            options = [t for t in options if len(plan(scene, t.kind, t.a, t.b) or []) == 2]
            if options:
                scenes.append(s.index(b))
                tasks.append(options[rng.integers(len(options))])
    return WorldState.concatenate(scenes), tasks


_STEP_RE = re.compile(r"grasp the (\w+) object(?: and place it on the (?:(table)|(\w+) object))?")


def parse_step(text: str) -> Instruction | None:
    """The first step of a plan as an instruction for a policy (None if it does not parse)."""
    m = _STEP_RE.search(text.lower())
    if m is None or m.group(1) not in COLOURS:
        return None
    obj = COLOURS.index(m.group(1))
    if m.group(2):
        family, arg = "table", -1
    elif m.group(3):
        if m.group(3) not in COLOURS or COLOURS.index(m.group(3)) == obj:
            return None
        family, arg = "stack", COLOURS.index(m.group(3))
    else:
        family, arg = "pick", -1
    return Instruction(family, obj, arg, m.group(0))


def oracle_planner(state: WorldState, tasks: Sequence[Task]) -> list[str]:
    """The world's search-based planner as a "model": the exact plan for each world (for comparisons)."""
    out = []
    for i, t in enumerate(tasks):
        steps = plan(scene_of(state, i), t.kind, t.a, t.b)
        out.append(plan_text(steps) if steps else "")
    return out


def model_planner(model: PaLME, modality: str = "objects", device=None) -> Callable:
    """The trained model as a planner: it looks at each world (``modality``) and says the plan's first step."""

    def planner(state: WorldState, tasks: Sequence[Task]) -> list[str]:
        obs = observe(state, modality, model.config.image_size)
        exs = []
        for j, t in enumerate(tasks):
            prompt, objects = make_prompt(t.question(), modality)
            exs.append(Example(prompt, "", t.kind, obs[j], objects))
        return generate(model, exs, max_new_tokens=16, device=device, stop=(",", "."))

    return planner


def execute(batch: TabletopBatch, executor="expert", max_steps: int = 60, *, temperature: float = 0.5,
            rng: np.random.Generator | None = None, record: Sequence[int] = ()) -> list[list[np.ndarray]]:
    """Carry out each world's instruction in ``batch`` with ``executor`` until it holds or ``max_steps``.

    ``executor``: ``"expert"`` or a policy with ``act(frames (B, k, H, W, 3), texts, temperature, rng)``
    (LAVA) that sees its last ``k`` frames (the first one repeated at the start). Returns the frames
    (DISPLAY pixels) of the worlds ``record`` after each step.
    """
    movies = [[] for _ in record]
    texts = [i.text for i in batch.instructions]
    history = None
    for _ in range(max_steps):
        if batch.success.all():
            break
        if executor == "expert":
            action = expert_action(batch.state, batch.family, batch.obj, batch.arg)
        else:
            frame = render(batch.state, executor.model.config.image_size)
            if history is None:
                history = FrameHistory(frame, executor.model.config.frames)
            else:
                history.push(frame)
            action = executor.act(history.frames, texts, temperature=temperature, rng=rng)   # frames (B, k, H, W, 3)
        batch.step(action)
        for movie, j in zip(movies, record):
            movie.append(render(batch.state.index(j), DISPLAY)[0])
    return movies


def let_go(state: WorldState, rows: np.ndarray) -> None:
    """Open the gripper of worlds ``rows`` where they are (a held block falls onto what is below it).

    A step that failed can leave a block in the hand; the planner reasons about blocks on the table and
    on each other, so before it looks again the arm lets go. This is the loop's reset between plan
    steps, not an instruction an executor follows (those run in a TabletopBatch).
    """
    if rows.size:
        sub = state.index(rows)
        world_step(sub, np.tile([0.0, 0.0, -1.0], (rows.size, 1)))
        state.set(rows, sub)


@dataclass
class LoopResult:
    success: np.ndarray              # (n,) bool, the task's goal reached
    planner_calls: np.ndarray        # (n,) how many times the model was asked
    control_steps: np.ndarray        # (n,) low-level steps taken
    transcript: list                 # per episode: the steps the model said, in order
    frames: list                     # per recorded episode: (T, H, W, 3) frames
    captions: list                   # per recorded episode: T strings, what the model had said at each frame


def closed_loop(planner, scenes: WorldState, tasks: Sequence[Task], executor="expert", *,
                max_calls: int = 4, max_steps: int = 60, record: int = 0, modality: str = "objects",
                device=None, temperature: float = 0.5, seed: int = 0) -> LoopResult:
    """The planner looks at the scene and says the next step; the executor performs it; repeat until done.

    ``planner``: a :class:`PaLME` model (it sees ``modality``) or a function ``(state, tasks) -> texts``
    such as :func:`oracle_planner`. ``executor``: ``"expert"`` or a policy (see :func:`execute`), whose
    actions are sampled at ``temperature`` (as :func:`lecturelib.lava.evaluate` does; 0: the most likely
    action). ``record``: keep the frames of the first ``record`` episodes, with the words said so far.
    """
    if scenes.batch_size != len(tasks):
        raise ValueError(f"{scenes.batch_size} scenes but {len(tasks)} tasks")
    if isinstance(planner, PaLME):
        planner = model_planner(planner, modality, device)
    state, n = scenes.copy(), len(tasks)
    rng = np.random.default_rng(seed)
    calls, steps = np.zeros(n, int), np.zeros(n, int)
    transcript: list[list[str]] = [[] for _ in range(n)]
    frames = [[render(state.index(i), DISPLAY)[0]] for i in range(record)]
    captions = [["(looking at the scene)"] for _ in range(record)]

    def goal() -> np.ndarray:
        return np.array([bool(t.done(state.index(i))[0]) for i, t in enumerate(tasks)])

    done = goal()
    for _ in range(max_calls):
        live = np.flatnonzero(~done)
        if live.size == 0:
            break
        said = planner(state.index(live), [tasks[i] for i in live])
        calls[live] += 1
        for i, text in zip(live, said):
            transcript[i].append(text)
        parsed = [(i, parse_step(text)) for i, text in zip(live, said)]
        rows = np.array([i for i, ins in parsed if ins is not None], int)
        if rows.size == 0:
            break
        batch = TabletopBatch(state.index(rows), [ins for _, ins in parsed if ins is not None])
        shown = [j for j, i in enumerate(rows) if i < record]
        movies = execute(batch, executor, max_steps, temperature=temperature, rng=rng, record=shown)
        state.set(rows, batch.state)
        steps[rows] += batch.steps_taken
        for j, movie in zip(shown, movies):
            i = int(rows[j])
            frames[i] += movie
            captions[i] += [f"step {calls[i]}: {transcript[i][-1]}"] * len(movie)
        done = goal()
        let_go(state, np.flatnonzero(~done & (state.held >= 0)))
    return LoopResult(goal(), calls, steps, transcript, [np.stack(f) for f in frames], captions)
