"""``course train lava``: the longer LAVA run, with optional ablations (lesson 07 trains the short one).

Its defaults are :data:`lecturelib.lava.training.LONG_RECIPE`; every flag overrides one field.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..world.events import detect_events, generate_play, random_windows
from .data import build_bc_data, event_windows, precompute_levels
from .evaluation import action_agreement, evaluate
from .model import LavaConfig
from .policy import make_policy, save_policy
from .text import ENCODERS, make_encoder
from .training import LONG_RECIPE, pretrain_trunk, train_lava

__all__ = ["train_main"]


def train_main(argv: list[str] | None = None) -> int:
    """Play -> event windows -> behaviour cloning -> closed-loop evaluation; optional ablations."""
    from .. import device as pick_device, describe_device, seed_everything

    p = argparse.ArgumentParser(prog="course train lava", description=train_main.__doc__)
    r = LONG_RECIPE
    p.add_argument("--streams", type=int, default=r.streams, help="parallel play streams")
    p.add_argument("--play-steps", type=int, default=r.play_steps, help="steps per play stream")
    p.add_argument("--steps", type=int, default=r.steps, help="behaviour-cloning updates")
    p.add_argument("--pretrain-steps", type=int, default=r.pretrain_steps,
                   help="auxiliary pre-training updates of the conv trunk (0: keep it random)")
    p.add_argument("--frames", type=int, default=r.frames, help="frames of temporal context")
    p.add_argument("--max-steps", type=int, default=40, help="closed-loop horizon of an evaluation episode")
    p.add_argument("--batch-size", type=int, default=r.batch_size)
    p.add_argument("--lr", type=float, default=r.lr)
    p.add_argument("--encoder", default=r.encoder, choices=list(ENCODERS))
    p.add_argument("--windows", default="event", choices=["event", "random"])
    p.add_argument("--episodes", type=int, default=200, help="closed-loop episodes per phrasing split")
    p.add_argument("--ablations", action="store_true", help="also train every other encoder and random windows")
    p.add_argument("--seed", type=int, default=r.seed)
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the fastest available)")
    p.add_argument("--out", default="lava_policy.pt", help="where to save the trained policy")
    p.add_argument("--json", default=None, help="write the measured figures to this JSON file")
    args = p.parse_args(argv)

    dev = pick_device(args.device)
    seed_everything(args.seed)
    print(f"device: {describe_device(dev)}")
    t0 = time.perf_counter()
    play = generate_play(args.streams, args.play_steps, seed=args.seed, progress=True)
    windows = event_windows(play, seed=args.seed)
    print(f"play: {play.n_streams * play.n_steps} steps, {len(windows)} event windows "
          f"({time.perf_counter() - t0:.0f} s)")
    runs = [(args.encoder, args.windows)]
    if args.ablations:
        runs += [(e, "event") for e in ("onehot", "scratch", "minilm", "clip") if e != args.encoder]
        runs += [("minilm", "random")] if args.windows == "event" else []
    results = {}
    clip_model = None
    trunk_state = None      # the pre-trained trunk, shared by every run (as LAVA shares its ResNet)
    for i, (enc_name, kind) in enumerate(runs):
        wins = windows
        if kind == "random":
            wins = random_windows(play, detect_events(play), len(windows), [w.end - w.start for w in windows],
                                  np.random.default_rng(args.seed), ("pick", "stack", "table"))
        data = build_bc_data(play, wins)
        if enc_name == "clip" and clip_model is None:
            from ..clip import ClipConfig, caption_dataset, train_clip
            clip_model = train_clip(caption_dataset(play, 4000, seed=args.seed), ClipConfig(), steps=1500,
                                    device=dev, progress=True)[0]
        encoder = make_encoder(enc_name, data.texts, clip_model)
        seed_everything(args.seed)
        policy = make_policy(encoder, LavaConfig(frames=args.frames))
        if trunk_state is not None:
            policy.model.vision.trunk.load_state_dict(trunk_state)
        elif args.pretrain_steps > 0:
            t1 = time.perf_counter()
            pretrain_trunk(policy, play, args.pretrain_steps, device=dev, seed=args.seed)
            print(f"trunk pre-trained on play frames ({time.perf_counter() - t1:.0f} s)")
        trunk_state = {k: v.clone() for k, v in policy.model.vision.trunk.state_dict().items()}
        if policy.model.config.freeze_trunk:
            precompute_levels(policy, data, device=dev)      # the frozen trunk runs once per frame
        t1 = time.perf_counter()
        train_lava(policy, data, args.steps, args.batch_size, args.lr, dev, seed=args.seed)
        train_s = time.perf_counter() - t1
        figures = {"train_seconds": train_s}
        for split in ("train", "heldout"):
            figures[f"agree_{split}"] = action_agreement(policy, 100, split, device=dev)["all"]
        for split in ("train", "heldout", "novel_words"):
            res = evaluate(policy, args.episodes, split, max_steps=args.max_steps, device=dev)
            figures.update({f"{split}/{k}": v for k, v in res.items()})
            print(f"  closed-loop success, {split} phrasings: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in res.items()))
        results[f"{enc_name}/{kind}"] = figures
        print(f"[{enc_name}, {kind} windows] trained {train_s:.0f} s; agreement seen {figures['agree_train']:.2f}, "
              f"held-out {figures['agree_heldout']:.2f}; success seen {figures['train/all']:.2f}, "
              f"held-out {figures['heldout/all']:.2f}, novel words {figures['novel_words/all']:.2f}")
        if i == 0 and args.out:
            save_policy(policy, args.out, figures=figures, device=str(dev))
            print(f"saved the policy to {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main(None))
