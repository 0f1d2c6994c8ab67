"""LAVA, "Language Attends to Vision to Act" (Lynch et al. 2022, "Interactive Language: Talking to
Robots in Real Time"), trained by behaviour cloning on relabeled play in the tabletop world.

One part per file, in the order lesson 07 meets them:

- :mod:`.model`      the architecture: conv pyramid -> visual tokens, language queries attend to them,
                     temporal transformer, policy head (:class:`LavaConfig`, :class:`LAVA`);
- :mod:`.actions`    the action distribution and the behaviour-cloning loss;
- :mod:`.text`       the text encoders, one name each (MiniLM, one-hot, from scratch, mini-CLIP);
- :mod:`.data`       relabeled play windows -> (frames, instruction, action) samples;
- :mod:`.policy`     model + text encoder, ``act``, save / load;
- :mod:`.training`   trunk pre-training, behaviour cloning, the recipes (:class:`LavaTrainConfig`);
- :mod:`.evaluation` closed-loop success and open-loop agreement on fresh scenes;
- :mod:`.artifact`   the policy lesson 07 saves and lesson 08 executes its plans with;
- :mod:`.run`        ``course train lava``, the longer run with ablations.

Why a pre-trained trunk and sampled actions (what was measured while making the policy work in closed
loop): the relabeled play is learnable (a network given the exact state imitates it and succeeds in
closed loop), but a *random* frozen conv trunk passes on the palm and block positions only vaguely; a
few hundred updates of an auxiliary task (regress the exact state from single play frames, free in
simulation) make them readable. And an arg-max policy in a deterministic world gets stuck for good the
first time it chooses to stay still with the gripper open; sampling (temperature 0.5) breaks that.

The public API::

    play = generate_play(n_streams, n_steps)                  # lecturelib.world: unlabeled play
    data = build_bc_data(play, event_windows(play))            # relabeled (frames, instruction, action)
    policy = make_policy(make_encoder("minilm", data.texts), LavaConfig())
    pretrain_trunk(policy, play, steps); precompute_levels(policy, data)
    train_lava(policy, data, steps, device=dev)                # behaviour cloning; returns the loss curve
    policy.act(frames, texts)                                  # (B, T, 64, 64, 3) uint8 -> (B, 3) actions
    evaluate(policy, n, split) / action_agreement(policy, n, split)
    policy, data, seconds = train_recipe(LESSON_RECIPE)        # all of the above in one call
    policy, info = lesson_policy(device)                       # lesson 08's executor
"""
from __future__ import annotations

from .actions import MOTION_LEVELS, N_LEVELS, action_bins, action_from_logits, bc_loss, sample_action
from .artifact import artifact_path, check_lesson_policy, lesson_policy, save_lesson_policy
from .data import BCData, build_bc_data, event_windows, precompute_levels
from .evaluation import FrameHistory, action_agreement, evaluate, rollout
from .model import (LAVA, ConvPyramid, FusionBlock, LavaConfig, ResidualMLP, cross_attention_fusion, make_patch_trunk,
                    make_trunk, pyramid_levels, sincos_2d)
from .policy import FORMAT_VERSION, LavaPolicy, PolicyFileError, load_policy, make_policy, save_policy
from .run import train_main
from .text import (ENCODERS, ClipTextEncoder, FrozenTableEncoder, MiniLMEncoder, MiniLMTokenEncoder, OneHotEncoder,
                   ScratchTextEncoder,
                   TextEncoder, encoder_from_spec, make_encoder)
from .training import LESSON_RECIPE, LONG_RECIPE, LavaTrainConfig, pretrain_trunk, train_lava, train_recipe

__all__ = [
    "LavaConfig", "LAVA", "ConvPyramid", "FusionBlock", "cross_attention_fusion", "ResidualMLP", "sincos_2d",
    "make_trunk", "make_patch_trunk", "pyramid_levels",
    "MOTION_LEVELS", "N_LEVELS", "action_bins", "action_from_logits", "sample_action", "bc_loss",
    "TextEncoder", "MiniLMEncoder", "MiniLMTokenEncoder", "OneHotEncoder", "ScratchTextEncoder", "FrozenTableEncoder", "ClipTextEncoder",
    "ENCODERS", "make_encoder", "encoder_from_spec",
    "BCData", "build_bc_data", "event_windows", "precompute_levels",
    "LavaPolicy", "make_policy", "save_policy", "load_policy", "FORMAT_VERSION", "PolicyFileError",
    "LavaTrainConfig", "LESSON_RECIPE", "LONG_RECIPE", "pretrain_trunk", "train_lava", "train_recipe",
    "FrameHistory", "rollout", "evaluate", "action_agreement",
    "artifact_path", "save_lesson_policy", "check_lesson_policy", "lesson_policy", "train_main",
]
