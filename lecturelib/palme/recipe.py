"""The PaLM-E recipe: every setting of a whole run in one :class:`Recipe`, and :func:`run`, which carries
it out part by part and times each part.

:data:`LESSON_RECIPE` is lesson 08's run (it fits the notebook's five minutes on a 2-core CPU); :data:`LONG_RECIPE` is
``course train palme`` (:func:`train_main`, whose options default to it). The lesson, the command and
the benchmarks (benchmarks/bench_palme.py) all read their numbers from here.

The parts of a run, as in the lesson: text pretraining of the LM; pretraining the perception step (the
object encoder's cell classifier); the mixture's sentences; multimodal training (fine-tuned LM); exact
match per family on fresh scenes; the same with a frozen LM (its text loss must not move); positive
transfer (few stacking examples alone vs inside the mixture, from the exact state); the closed loop on
two-step tasks.
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

import torch

from .decoding import evaluate
from .encoders import pretrain_object_encoder
from .language_model import language_loss, make_lm, pretrain_lm
from .loop import closed_loop, oracle_planner, two_step_tasks
from .experiments import frozen_lm_experiment, transfer_experiment
from .model import PaLME
from .sentences import MODALITIES, build_tokenizer
from .tasks import Mixture, make_examples, mixture
from .training import TrainConfig, train_palme

__all__ = ["Recipe", "LESSON_RECIPE", "LONG_RECIPE", "run", "train_main"]


@dataclass
class Recipe:
    """Everything a PaLM-E run needs, from the tokenizer to the closed loop."""

    max_vocab: int = 800
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 112                  # the longest multimodal sentence fits
    lm_steps: int = 160                    # text pretraining
    lm_batch_size: int = 16
    perception_scenes: int = 1000          # pretraining the object encoder's cell classifier
    perception_steps: int = 300
    modality: str = "objects"
    scenes: int = 900                      # training scenes of the mixture
    mixture: Mixture = field(default_factory=Mixture)
    test_scenes: int = 120                 # fresh scenes for exact match per family
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1200, batch_size=64, lr=3e-3))
    frozen_steps: int = 400                # the frozen-LM comparison
    transfer_examples: int = 60            # stacking examples in the positive-transfer experiment
    transfer_steps: int = 600
    episodes: int = 60                     # closed-loop episodes (two-step tasks)
    seed: int = 0

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")

    def lm(self, tokenizer):
        return make_lm(tokenizer, self.n_layer, self.n_head, self.n_embd, self.block_size)

    def small(self) -> "Recipe":
        """A few steps of everything (the test suite's small-budget runs, where nothing is asserted)."""
        return replace(self, lm_steps=4, perception_scenes=50, perception_steps=3, scenes=20, test_scenes=10,
                       train=replace(self.train, steps=4), frozen_steps=2, transfer_examples=10,
                       transfer_steps=4, episodes=4)


LESSON_RECIPE = Recipe(mixture=Mixture(per_scene={"object_table": 1, "object_object": 3, "plan_feasibility": 2,
                                                  "grasping": 2, "stacking": 2}),
                       train=TrainConfig(steps=2400, batch_size=64, lr=3e-3))
LONG_RECIPE = Recipe(lm_steps=300, scenes=6000, test_scenes=300, train=TrainConfig(steps=8000, batch_size=64, lr=3e-3),
              frozen_steps=600, episodes=100)


@contextmanager
def _timed(seconds: dict, part: str):
    start = time.perf_counter()
    yield
    seconds[part] = seconds.get(part, 0.0) + time.perf_counter() - start


def run(recipe: Recipe = LESSON_RECIPE, device=None, lava=None, progress: bool = False) -> tuple[dict, dict]:
    """Carry out ``recipe``; returns (figures, seconds per part). ``lava``: a policy to run as executor too."""
    from .. import seed_everything

    device = torch.device(device) if device is not None else torch.device("cpu")
    r, seed, sec, fig = recipe, recipe.seed, {}, {}
    seed_everything(seed)
    with _timed(sec, "text pretraining"):
        tok = build_tokenizer(r.max_vocab, seed=seed)
        lm = r.lm(tok)
        _, val_ids = pretrain_lm(lm, tok, r.lm_steps, batch_size=r.lm_batch_size, device=device, seed=seed,
                                 progress=progress)
        fig["language_before"] = language_loss(lm, val_ids)
    with _timed(sec, "data"):
        train = mixture(r.scenes, r.mixture, seed=seed + 1, modality=r.modality)
        test = make_examples(r.test_scenes, seed=seed + 100, modality=r.modality)
    seed_everything(seed)
    model = PaLME(copy.deepcopy(lm), tok).to(device)
    with _timed(sec, "perception pretraining"):
        fig["cell_accuracy"] = pretrain_object_encoder(model, r.perception_scenes, r.perception_steps, seed=seed,
                                                       device=device)
    with _timed(sec, "training"):
        train_palme(model, train, replace(r.train, seed=seed, progress=progress), device=device)
    with _timed(sec, "evaluation"):
        fig.update({f"accuracy/{k}": v for k, v in evaluate(model, test, device=device).items()})
        fig["language_after"] = language_loss(model, val_ids)
    fig["planning"] = (fig["accuracy/grasping"] + fig["accuracy/stacking"]) / 2
    with _timed(sec, "frozen LM"):
        frozen = frozen_lm_experiment(lm, tok, r, device)
        fig.update({f"frozen/accuracy/{k}": v for k, v in frozen["accuracy"].items()})
        fig["frozen/language_after"] = frozen["language_after"]
    with _timed(sec, "transfer"):
        transfer = transfer_experiment(lm, tok, r, device)
        fig["transfer/stacking_alone"], fig["transfer/stacking_mixture"] = \
            transfer["stacking only"], transfer["inside the mixture"]
        fig["transfer/gain"] = fig["transfer/stacking_mixture"] - fig["transfer/stacking_alone"]
    with _timed(sec, "closed loop"):
        scenes, tasks = two_step_tasks(r.episodes, seed=seed + 200)
        fig["closed_loop/palme+expert"] = float(closed_loop(model, scenes, tasks, "expert", modality=r.modality,
                                                            device=device).success.mean())
        fig["closed_loop/oracle+expert"] = float(closed_loop(oracle_planner, scenes, tasks).success.mean())
        if lava is not None:
            fig["closed_loop/palme+lava"] = float(closed_loop(model, scenes, tasks, lava, modality=r.modality,
                                                              device=device).success.mean())
            fig["closed_loop/oracle+lava"] = float(closed_loop(oracle_planner, scenes, tasks, lava).success.mean())
    sec["total"] = sum(sec.values())
    return fig, sec


def train_main(argv: list[str] | None = None) -> int:
    """The longer run (:data:`LONG_RECIPE`): pretrain the LM on text, train PaLM-E on the task mixture from pixels,
    report exact match per family, the text loss before and after (fine-tuned and frozen LM), positive
    transfer, and the closed loop on two-step tasks with the scripted expert (and LAVA, given a policy)."""
    from .. import describe_device, device as pick_device

    d = LONG_RECIPE
    p = argparse.ArgumentParser(prog="course train palme", description=train_main.__doc__)
    p.add_argument("--recipe", choices=["long", "lesson"], default="long", help="the defaults to start from")
    p.add_argument("--scenes", type=int, help=f"training scenes (default {d.scenes})")
    p.add_argument("--test-scenes", type=int, help=f"fresh scenes for the accuracy per family (default {d.test_scenes})")
    p.add_argument("--modality", choices=list(MODALITIES), help=f"default {d.modality}")
    p.add_argument("--max-vocab", type=int, help=f"default {d.max_vocab}")
    p.add_argument("--lm-steps", type=int, help=f"text pretraining steps (default {d.lm_steps})")
    p.add_argument("--steps", type=int, help=f"PaLM-E training steps (default {d.train.steps})")
    p.add_argument("--batch-size", type=int, help=f"default {d.train.batch_size}")
    p.add_argument("--lr", type=float, help=f"peak learning rate (default {d.train.lr})")
    p.add_argument("--n-layer", type=int, help=f"default {d.n_layer}")
    p.add_argument("--n-embd", type=int, help=f"default {d.n_embd}")
    p.add_argument("--episodes", type=int, help=f"closed-loop episodes (default {d.episodes})")
    p.add_argument("--frozen-steps", type=int, help=f"training steps of the frozen-LM model (default {d.frozen_steps})")
    p.add_argument("--transfer-steps", type=int, help=f"default {d.transfer_steps}")
    p.add_argument("--lava", default=None, help="a LAVA policy saved by lecturelib.lava.save_policy: also run it as executor")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (tiny models: 1 is fastest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="write the measured figures and seconds per part to this JSON file")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    recipe = LONG_RECIPE if args.recipe == "long" else LESSON_RECIPE
    top = {"scenes": args.scenes, "test_scenes": args.test_scenes, "modality": args.modality,
           "max_vocab": args.max_vocab, "lm_steps": args.lm_steps, "n_layer": args.n_layer, "n_embd": args.n_embd,
           "episodes": args.episodes, "frozen_steps": args.frozen_steps, "transfer_steps": args.transfer_steps,
           "seed": args.seed}
    train = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr}
    recipe = replace(recipe, **{k: v for k, v in top.items() if v is not None},
                     train=replace(recipe.train, **{k: v for k, v in train.items() if v is not None}))
    dev = pick_device(args.device)
    if dev.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    print(f"device: {describe_device(dev)}")
    lava = None
    if args.lava:
        from ..lava import load_policy
        lava = load_policy(args.lava, device=dev)
    fig, sec = run(recipe, dev, lava=lava, progress=not args.no_progress)
    for k, v in fig.items():
        print(f"{k}: {v:.3f}")
    for k, v in sec.items():
        print(f"seconds, {k}: {v:.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"figures": fig, "seconds": sec, "recipe": asdict(recipe)}, fh, indent=1, default=str)
    return 0
