"""A PaLM-E-style embodied multimodal language model in miniature (Driess et al. 2023, "PaLM-E: An
Embodied Multimodal Language Model").

PaLM-E grounds a decoder-only language model in the robot's world by writing *multimodal sentences*,
text in which some positions hold embeddings computed from observations instead of word embeddings,

    "Q: Is the red <obj> object left, right, or center of the table? A:"
                   └─ the red block's token, from the object encoder, projected to the LM's width

and by training the whole on a mixture of embodied tasks (visual questions and plans with exact answers)
and plain text. Its output is text, which can be an instruction for a language-conditioned policy: the
model looks, says the next step, the policy (LAVA, lesson 07) acts, the model looks again.

One part per module, in the order of the lecture (and of lesson 08):

- :mod:`.sentences`: the tokenizer, prompts with entity referrals, batching of mixed tasks, the
  injection of encoder tokens, the answer-only targets;
- :mod:`.language_model`: one interface over the lesson-05 GPT and Hugging Face causal LMs, text pretraining;
- :mod:`.encoders`: whole-image patches, object tokens from pixels (perception + slot head), from the state;
- :mod:`.model`: :class:`PaLME`, the encoders, projections and LM together;
- :mod:`.tasks`: the task mixture from the world's question generators, and plain text;
- :mod:`.training` and :mod:`.decoding`: training, exact match per family, greedy decoding;
- :mod:`.loop`: the closed loop, the model as planner and an executor in a ``TabletopBatch``;
- :mod:`.experiments`: the frozen-LM and positive-transfer experiments, the LAVA executor;
- :mod:`.recipe`: every setting of a run (:data:`LESSON_RECIPE`, :data:`LONG_RECIPE`), :func:`run`, :func:`train_main`;
- :mod:`.side`: side experiments on the second CPU core.
"""
from .decoding import evaluate, exact_match, generate
from .encoders import (GRID, RELATION_FEATURES, ObjectEncoder, PatchEncoder, SlotHead, StateEncoder, cell_labels,
                       pretrain_object_encoder, state_features)
from .language_model import CourseLM, HFCausalLM, as_language_model, language_loss, make_lm, pretrain_lm, text_ids
from .loop import LoopResult, Task, closed_loop, execute, model_planner, oracle_planner, parse_step, two_step_tasks
from .model import PaLME, PaLMEConfig, Projection
from .experiments import frozen_lm_experiment, lava_executor, transfer_data, transfer_experiment
from .recipe import LESSON_RECIPE, LONG_RECIPE, Recipe, run, train_main
from .side import SideJobs
from .sentences import (IGNORE, MODALITIES, PLACEHOLDERS, SPECIALS, Example, MultimodalBatch, MultimodalTokenizer,
                        answer_targets, build_tokenizer, collate, inject, make_prompt, pad_batch, referral_prompt,
                        sentence_length, world_sentences)
from .tasks import (PLANNING_FAMILIES, TASK_FAMILIES, VQA_FAMILIES, Mixture, language_examples, make_examples,
                    mixture, observe)
from .training import TrainConfig, TrainHistory, batch_loss_backward, train_palme

__all__ = [
    # sentences
    "PLACEHOLDERS", "SPECIALS", "IGNORE", "MODALITIES", "MultimodalTokenizer", "world_sentences", "build_tokenizer",
    "referral_prompt", "make_prompt", "Example", "MultimodalBatch", "pad_batch", "collate", "sentence_length",
    "inject", "answer_targets",
    # the language model
    "CourseLM", "HFCausalLM", "as_language_model", "make_lm", "text_ids", "pretrain_lm", "language_loss",
    # encoders and the model
    "GRID", "RELATION_FEATURES", "PatchEncoder", "SlotHead", "ObjectEncoder", "StateEncoder", "cell_labels",
    "state_features", "pretrain_object_encoder", "PaLMEConfig", "Projection", "PaLME",
    # the task mixture
    "TASK_FAMILIES", "VQA_FAMILIES", "PLANNING_FAMILIES", "observe", "make_examples", "language_examples",
    "Mixture", "mixture",
    # training, evaluation, decoding
    "TrainConfig", "TrainHistory", "train_palme", "batch_loss_backward", "exact_match", "evaluate", "generate",
    # the closed loop
    "Task", "two_step_tasks", "parse_step", "oracle_planner", "model_planner", "execute", "LoopResult", "closed_loop",
    # the experiments, the recipe, side jobs
    "frozen_lm_experiment", "transfer_data", "transfer_experiment", "lava_executor",
    "Recipe", "LESSON_RECIPE", "LONG_RECIPE", "run", "train_main", "SideJobs",
]
