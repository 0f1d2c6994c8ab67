"""The tabletop world of lessons 07 and 08: a side view of a table, coloured blocks and a gripper.

- :mod:`~lecturelib.world.core`: state, scene sampling and the batched, deterministic physics;
- :mod:`~lecturelib.world.render`: numpy RGB rendering;
- :mod:`~lecturelib.world.symbolic`: exact predicates and the discrete scene;
- :mod:`~lecturelib.world.language`: instruction families, paraphrases, held-out phrasings, success;
- :mod:`~lecturelib.world.expert`: the scripted expert and the play agent;
- :mod:`~lecturelib.world.events`: play data, event detection, event-selected and random windows;
- :mod:`~lecturelib.world.env`: the gymnasium environment and a batch of worlds for evaluation;
- :mod:`~lecturelib.world.planning`: a search-based planner and PaLM-E-style questions with answers.

References: Lynch et al. (2022) "Interactive Language: Talking to Robots in Real Time";
Driess et al. (2023) "PaLM-E: An Embodied Multimodal Language Model".
"""
from .core import (BLOCK, COLOURS, LIFT_HEIGHT, N_COLOURS, STEP, WorldConfig, WorldState, sample_scenes,
                   step)
from .env import TabletopBatch, TabletopEnv
from .events import (Event, PlayData, Window, annotate, behaviour_start, detect_events, generate_play,
                     label_correct, random_windows, select_windows)
from .expert import PlayAgent, PlayConfig, expert_action
from .language import (FAMILIES, SPLITS, Instruction, all_instruction_texts, caption, feasible, phrasings,
                       sample_instructions, success, success_many)
from .render import render
from .symbolic import REGIONS, Scene, describe, scene_of

__all__ = [
    "BLOCK", "COLOURS", "LIFT_HEIGHT", "N_COLOURS", "STEP", "WorldConfig", "WorldState", "sample_scenes",
    "step", "TabletopBatch", "TabletopEnv", "Event", "PlayData", "Window", "annotate", "behaviour_start",
    "detect_events", "generate_play", "label_correct", "random_windows", "select_windows", "PlayAgent",
    "PlayConfig", "expert_action", "FAMILIES", "SPLITS", "Instruction", "all_instruction_texts", "caption",
    "feasible", "phrasings", "sample_instructions", "success", "success_many", "render", "REGIONS", "Scene",
    "describe", "scene_of",
]
