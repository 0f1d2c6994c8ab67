"""A PaLM-E-style embodied multimodal language model in miniature (Driess et al. 2023, "PaLM-E: An
Embodied Multimodal Language Model").

PaLM-E grounds a decoder-only language model in the robot's world by writing *multimodal sentences*:
text in which some positions hold embeddings computed from observations instead of word embeddings,

    "<img> Q: Is the red object left, right, or center of the table? A:"
     └─ the image encoder's N visual tokens, projected to the LM's width, sit where <img> stands

and by training the whole thing on a mixture of embodied tasks (visual questions and plans with exact
answers) and plain text. The output is text, which can be an instruction for a language-conditioned
policy: the model looks, says the next step, the policy (LAVA, lesson 07) acts, the model looks again.

What this module holds, in the order of the lecture:

- :class:`MultimodalTokenizer` word tokens of lesson 05 plus ``<pad> <eos> <img> <obj>``;
- :class:`CourseLM` / :class:`HFCausalLM` one interface over the lesson-05 GPT and any Hugging Face
  causal LM (``inputs_embeds``), :func:`pretrain_lm` (pydoc corpus + the world's own language);
- :class:`ImageEncoder` (column tokens from a small CNN, ViT-style patches that are image columns) and
  :class:`StateEncoder` (one token per object, the object-centric input of PaLM-E);
- :func:`inject` the encoder outputs replace the placeholders' word embeddings;
  :func:`answer_targets` only answer tokens are trained; :func:`collate` batches mixed tasks;
- :class:`PaLME` the model, :func:`train_palme`, :func:`evaluate` (accuracy per task family by exact
  match, which equals greedy decoding's), :func:`generate` (greedy decoding);
- the task mixture from the world's generators (:func:`make_examples`, :func:`language_examples`);
- the closed loop (:func:`two_step_tasks`, :func:`closed_loop`) with the scripted expert or LAVA as executor;
- :func:`train_main`, the longer training run.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .transformer.data import load_pydoc_corpus
from .transformer.gpt import GPT, GPTConfig
from .transformer.tokenizers import WordTokenizer, word_split
from .transformer.training import TrainConfig as LMTrainConfig, evaluate_nats, train_gpt
from .world.core import BLOCK, COLOURS, N_COLOURS, WorldConfig, WorldState, sample_scenes, step as world_step
from .world.expert import expert_action
from .world.language import FAMILIES, Instruction, all_instruction_texts, success_many
from .world.planning import QUESTION_KINDS, ask, plan, plan_instructions, plan_text
from .world.render import render
from .world.symbolic import describe, scene_of

__all__ = [
    "PLACEHOLDERS", "SPECIALS", "TASK_FAMILIES", "VQA_FAMILIES", "PLANNING_FAMILIES", "IGNORE",
    "MultimodalTokenizer", "world_sentences", "build_tokenizer", "CourseLM", "HFCausalLM", "as_language_model",
    "make_lm", "pretrain_lm", "language_loss", "PatchEncoder", "ObjectEncoder", "cell_labels", "StateEncoder",
    "state_features", "Example", "referral_prompt", "MultimodalBatch", "pad_batch", "collate", "inject",
    "answer_targets", "PaLMEConfig", "Projection", "PaLME", "pretrain_object_encoder", "MODALITIES", "make_prompt", "observe",
    "make_examples", "language_examples", "sentence_length", "TrainConfig", "TrainHistory", "train_palme", "exact_match", "evaluate", "generate",
    "Task", "two_step_tasks", "parse_step", "oracle_planner", "model_planner", "LoopResult", "closed_loop",
    "train_main",
]

PLACEHOLDERS = ("<img>", "<obj>")
SPECIALS = ("<pad>", "<eos>") + PLACEHOLDERS
TASK_FAMILIES = QUESTION_KINDS                                   # the slide's five tables
VQA_FAMILIES = ("object_table", "object_object", "plan_feasibility")
PLANNING_FAMILIES = ("grasping", "stacking")
IGNORE = -100                                                    # targets that the loss skips
_PLACEHOLDER_RE = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")")
_NO_SPACE_BEFORE = set(".,?!:;)")


# ----------------------------------------------------------------------------------------------
# text: tokenizer, the world's language, the language model
# ----------------------------------------------------------------------------------------------
class MultimodalTokenizer:
    """Word tokens (lesson 05's :class:`WordTokenizer`) plus the special tokens ``<pad> <eos> <img> <obj>``.

    A placeholder in a sentence is one token here; :func:`collate` expands it to as many positions
    as its encoder gives tokens.
    """

    def __init__(self, words: WordTokenizer):
        self.words = words
        self.itos: list[str] = list(words.itos) + list(SPECIALS)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.unk_id = words.stoi[WordTokenizer.UNK]
        self.pad_id, self.eos_id = self.stoi["<pad>"], self.stoi["<eos>"]
        self.placeholder_id = {p: self.stoi[p] for p in PLACEHOLDERS}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for part in _PLACEHOLDER_RE.split(text):
            if part in self.placeholder_id:
                ids.append(self.placeholder_id[part])
            elif part:
                ids.extend(self.words.stoi.get(w, self.unk_id) for w in word_split(part))
        return ids

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        """Words joined by spaces, no space before punctuation; stops at ``<eos>`` when skipping specials."""
        out: list[str] = []
        for i in ids:
            w = self.itos[int(i)]
            if skip_special and w == "<eos>":
                break
            if skip_special and w in SPECIALS:
                continue
            if out and w in _NO_SPACE_BEFORE:
                out[-1] += w
            else:
                out.append(w)
        return " ".join(out)

    def __len__(self) -> int:
        return self.vocab_size


def world_sentences(n_scenes: int = 400, seed: int = 0, world: WorldConfig | None = None) -> list[str]:
    """The world's own language, as plain text: instructions, scene descriptions and Q/A pairs.

    This is what a web-scale language model would already have read about tables and blocks; it
    carries no picture, so the answers are not grounded in any particular scene.
    """
    rng = np.random.default_rng(seed)
    scenes = sample_scenes(n_scenes, rng, world)
    out = list(all_instruction_texts("train"))
    rng.shuffle(out)
    out = out[: 4 * n_scenes]
    for b in range(n_scenes):
        out.append(". ".join(describe(scenes, b)).capitalize() + ".")
        qa = ask(scenes, TASK_FAMILIES[b % len(TASK_FAMILIES)], rng, b)
        if qa is not None:
            out.append(f"Q: {qa.question} A: {qa.answer}")
    rng.shuffle(out)
    return out


def build_tokenizer(max_vocab: int = 1500, seed: int = 0) -> MultimodalTokenizer:
    """Word tokenizer over the pydoc corpus and the world's language (every world word is kept)."""
    world = " ".join(world_sentences(300, seed))
    # the world's text, repeated, outranks all but the most frequent pydoc words, so none is cut
    words = WordTokenizer(world * 20 + " " + load_pydoc_corpus("train"), max_vocab=max_vocab)
    missing = {w for w in word_split(world) if w not in words.stoi}
    if missing:
        raise ValueError(f"max_vocab={max_vocab} is too small for the world's words, e.g. {sorted(missing)[:5]}")
    return MultimodalTokenizer(words)


class CourseLM(nn.Module):
    """The lesson-05 :class:`~lecturelib.transformer.GPT` behind the interface :class:`PaLME` uses."""

    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt
        self.n_embd, self.block_size = gpt.config.n_embd, gpt.config.block_size
        self.vocab_size = gpt.config.vocab_size

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.gpt.token_embedding(ids)                                   # (B, T, C)

    def hidden(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.gpt.hidden_states(inputs_embeds=inputs_embeds)             # (B, T, C)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.gpt.lm_head(hidden)                                        # (..., V)

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden(inputs_embeds))                         # (B, T, V)


class HFCausalLM(nn.Module):
    """Any Hugging Face causal LM (e.g. ``GPT2LMHeadModel``) behind the same interface.

    Its vocabulary must cover the tokenizer's ids (with a real pretrained model, use a tokenizer whose
    ids are the model's own).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        cfg = getattr(model, "config", None)
        if cfg is None or not hasattr(model, "get_input_embeddings"):
            raise ValueError("HFCausalLM needs a transformers PreTrainedModel (with .config and get_input_embeddings)")
        self.model = model
        self.n_embd = int(getattr(cfg, "hidden_size", None) or cfg.n_embd)
        self.block_size = int(getattr(cfg, "n_positions", None) or cfg.max_position_embeddings)
        self.vocab_size = int(cfg.vocab_size)

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def hidden(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.model.base_model(inputs_embeds=inputs_embeds).last_hidden_state

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.get_output_embeddings()(hidden)

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=inputs_embeds).logits


def as_language_model(lm: nn.Module) -> nn.Module:
    """Wrap a course GPT or a Hugging Face causal LM (already-wrapped models pass through)."""
    if isinstance(lm, (CourseLM, HFCausalLM)):
        return lm
    if isinstance(lm, GPT):
        return CourseLM(lm)
    if hasattr(lm, "get_input_embeddings") and hasattr(lm, "config"):
        return HFCausalLM(lm)
    raise ValueError(f"expected a lecturelib GPT or a Hugging Face causal LM, got {type(lm).__name__}")


def make_lm(tokenizer: MultimodalTokenizer, n_layer: int = 3, n_head: int = 4, n_embd: int = 96,
            block_size: int = 96) -> GPT:
    """A fresh lesson-05 GPT sized for the tokenizer."""
    return GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block_size, n_layer=n_layer,
                         n_head=n_head, n_embd=n_embd))


def _text_ids(tokenizer: MultimodalTokenizer, split: str, seed: int = 0) -> torch.Tensor:
    """pydoc text and the world's language, interleaved sentence by sentence, as one token stream."""
    world = world_sentences(300 if split == "train" else 100, seed if split == "train" else seed + 1)
    pydoc = load_pydoc_corpus(split)
    ids = tokenizer.encode(pydoc)
    for s in world:
        ids.extend(tokenizer.encode(s))
        ids.append(tokenizer.eos_id)
    return torch.tensor(ids, dtype=torch.long)


def pretrain_lm(lm: GPT, tokenizer: MultimodalTokenizer, steps: int = 400, batch_size: int = 32,
                lr: float = 3e-3, device=None, seed: int = 0, progress: bool = True):
    """Pretrain the GPT on text (pydoc + the world's language) with lesson 05's ``train_gpt``.

    Returns ``(result, val_ids)``: the training record and the held-out text used by :func:`language_loss`.
    """
    train_ids, val_ids = _text_ids(tokenizer, "train", seed), _text_ids(tokenizer, "val", seed)
    cfg = LMTrainConfig(steps=steps, batch_size=batch_size, lr=lr, min_lr=lr / 10, warmup_steps=max(1, steps // 20),
                        eval_every=max(1, steps // 4), eval_batches=4, seed=seed, progress=progress)
    result = train_gpt(lm, train_ids, val_ids, cfg, device=device)
    return result, val_ids


def language_loss(lm: nn.Module, val_ids: torch.Tensor, batches: int = 8) -> float:
    """Held-out next-token loss (nats/token) of the LM inside a PaLM-E model or on its own."""
    gpt = lm.lm.gpt if isinstance(lm, PaLME) else (lm.gpt if isinstance(lm, CourseLM) else lm)
    if not isinstance(gpt, GPT):
        raise ValueError("language_loss measures a lecturelib GPT")
    return evaluate_nats(gpt, val_ids, batches=batches, batch_size=32)


# ----------------------------------------------------------------------------------------------
# encoders: observations -> tokens of the LM's width
# ----------------------------------------------------------------------------------------------
def _check_images(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.dim() != 4 or tuple(images.shape[1:]) != (size, size, 3):
        raise ValueError(f"images must be (B, {size}, {size}, 3), got {tuple(images.shape)}")
    return images.float() / 255.0 - 0.5 if images.dtype == torch.uint8 else images.float()


class PatchEncoder(nn.Module):
    """ViT-style patch tokens, with patches cut to fit a side view: one vertical strip per table slot.

    (B, S, S, 3) uint8 -> (B, n_columns, dim). Each strip (S x S/n_columns pixels: the stack standing on
    that part of the table and the air above it) is flattened and embedded by a two-layer MLP, and a
    learned position says which strip it is. With S = 56 and 7 strips, every table slot is one strip.
    """

    def __init__(self, image_size: int = 56, n_columns: int = 7, dim: int = 64, hidden: int = 128):
        super().__init__()
        if image_size % n_columns:
            raise ValueError(f"image_size ({image_size}) must be a multiple of n_columns ({n_columns})")
        self.image_size, self.dim, self.n_tokens = image_size, dim, n_columns
        width = image_size // n_columns
        self.embed = nn.Sequential(nn.Linear(image_size * width * 3, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.column = nn.Parameter(torch.zeros(n_columns, dim))                # which strip a token is

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = _check_images(images, self.image_size)
        B, S = x.shape[0], self.image_size
        strips = x.reshape(B, S, self.n_tokens, S // self.n_tokens, 3).permute(0, 2, 1, 3, 4)   # (B, N, S, w, 3)
        return self.embed(strips.reshape(B, self.n_tokens, -1)) + self.column                  # (B, N, dim)


GRID = 7                        # cells per row and per column of the object encoders' grid
_NEIGHBOURS = ((-1, 0), (-2, 0), (-3, 0), (1, 0))   # (rows, columns) offsets: three cells above, one below
RELATION_FEATURES = ("left of", "right of", "above", "below", "on", "under")   # of block k to each block j


class SlotHead(nn.Module):
    """From a grid of cell colours to one token per object: the object-centric part of both encoders.

    cells (B, g, g, K + 1): the probability of each colour (K = empty) in each cell, row 0 highest.
    For block k, its map m_k = cells[..., k] gives where it is (row and column marginals) and what lies
    around it: the colours in the cells 1, 2, 3 above and 1 below it, sum over cells of
    m_k(r, c) * cells(r + dr, c + dc), and its relations to every other block j (left of, above, on, ...:
    bilinear in the two maps, a soft scene graph). The token is the colour's embedding + the expected row
    and column embeddings (ViT-style positions, weighted by the map) + an MLP of these features; one
    self-attention layer over the K slots then relates the objects. -> (B, K, dim).

    Why the relations are computed here: a tiny LM has to compare two injected tokens to answer "Is the
    red object left of the blue one?", and learns that slowly (near chance after 600 steps); with the
    relations in each token it only has to read them out.
    """

    def __init__(self, dim: int = 64, grid: int = GRID):
        super().__init__()
        self.grid, self.dim = grid, dim
        n_in = 4 * grid + len(_NEIGHBOURS) * (N_COLOURS + 1) + len(RELATION_FEATURES) * N_COLOURS
        self.mlp = nn.Sequential(nn.Linear(n_in, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.colour = nn.Parameter(torch.randn(N_COLOURS, dim) * 0.5)
        self.row = nn.Parameter(torch.randn(grid, dim) * 0.5)
        self.col = nn.Parameter(torch.randn(grid, dim) * 0.5)
        self.relate = nn.TransformerEncoderLayer(dim, 4, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)

    def features(self, cells: torch.Tensor) -> torch.Tensor:
        """(B, K, 2g + 4(K+1) + 2g + 6K), for each block k: its row and column (one-hot), the colours
        around it (cells 1, 2, 3 above and 1 below), its row and column again as thermometer codes
        ("at or below row r", "at or left of column c": comparing two blocks becomes linear), and its
        relations to each block j (:data:`RELATION_FEATURES`: k left of, right of, above, below, on, under j)."""
        B, g = cells.shape[0], self.grid
        maps = cells[..., :N_COLOURS].permute(0, 3, 1, 2)                      # (B, K, g, g)
        rows, cols = maps.sum(3), maps.sum(2)                                 # (B, K, g) each
        empty = torch.zeros(B, 1, g, N_COLOURS + 1, device=cells.device, dtype=cells.dtype)
        empty[..., N_COLOURS] = 1.0                                           # outside the grid: nothing
        padded = torch.cat([empty, empty, empty, cells, empty], 1)           # rows -3 .. g, (B, g + 4, g, K + 1)
        around = []
        for dr, dc in _NEIGHBOURS:
            shifted = padded[:, 3 + dr: 3 + dr + g].roll(-dc, 2)              # shifted[r, c] = cells[r + dr, c + dc]
            around.append(torch.einsum("bkrc,brcj->bkj", maps, shifted))      # (B, K, K + 1)
        # pairwise relations to every other block j, from the same maps (a scene graph):
        # k left of j = P(col_k < col_j); k above j = P(same column, row_k < row_j); k on j: row_k = row_j - 1
        idx = torch.arange(g, device=cells.device)
        lt = (idx[:, None] < idx[None, :]).to(cells.dtype)                   # [a, b] = a < b
        just = (idx[:, None] == idx[None, :] - 1).to(cells.dtype)            # [a, b] = a = b - 1
        left = torch.einsum("bkc,bjd,cd->bkj", cols, cols, lt)
        above = torch.einsum("bkrc,bjsc,rs->bkj", maps, maps, lt)
        on = torch.einsum("bkrc,bjsc,rs->bkj", maps, maps, just)
        relations = [left, left.transpose(1, 2), above, above.transpose(1, 2), on, on.transpose(1, 2)]
        cumulative = [rows.flip(-1).cumsum(-1).flip(-1), cols.cumsum(-1)]
        return torch.cat([rows, cols] + around + cumulative + relations, -1)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        f = self.features(cells)                                              # (B, K, n_in)
        g = self.grid
        where = f[..., :g] @ self.row + f[..., g:2 * g] @ self.col           # (B, K, dim)
        return self.relate(self.mlp(f) + where + self.colour)                # (B, K, dim)


class ObjectEncoder(nn.Module):
    """Object-centric tokens from pixels: one token per block colour (a stand-in for PaLM-E's OSRT).

    (B, S, S, 3) uint8 -> (B, K, dim). The image above the table is a grid of cells, one block each
    (with S = 56: 7 x 7 cells of 7 x 8 pixels). A linear classifier names the colour in every cell (or
    empty), and the :class:`SlotHead` turns the grid of colour probabilities into object tokens.
    """

    def __init__(self, image_size: int = 56, dim: int = 64, grid: int = GRID):
        super().__init__()
        if image_size % grid or image_size % 8:
            raise ValueError(f"image_size ({image_size}) must be a multiple of grid ({grid}) and of 8")
        self.image_size, self.grid, self.dim, self.n_tokens = image_size, grid, dim, N_COLOURS
        self.cell_h = (image_size - image_size // 8) // grid            # rows above the table / grid
        self.cell_w = image_size // grid
        self.cell = nn.Linear(self.cell_h * self.cell_w * 3, N_COLOURS + 1)   # colours 0..K-1, K = empty
        self.slots = SlotHead(dim, grid)

    def cell_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, grid, grid, K + 1): which colour (or none) fills each cell; row 0 is the highest."""
        x = _check_images(images, self.image_size)
        B, g, h, w = x.shape[0], self.grid, self.cell_h, self.cell_w
        cells = x[:, : g * h].reshape(B, g, h, g, w, 3).permute(0, 1, 3, 2, 4, 5).reshape(B, g, g, -1)
        return self.cell(cells)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.slots(self.cell_logits(images).softmax(-1))


def cell_labels(state: WorldState, grid: int = GRID) -> np.ndarray:
    """(B, grid, grid) the colour index in each cell (K = empty; row 0 highest), from the exact state.

    This is the symbolic state as the object encoders see it, and the labels that pretrain the
    image encoder's colour classifier.
    """
    out = np.full((state.batch_size, grid, grid), N_COLOURS, dtype=np.int64)
    for b, k in zip(*np.nonzero(state.present & (state.held[:, None] != np.arange(N_COLOURS)))):
        col = int(np.floor(state.x[b, k] * grid))
        row = grid - 1 - int(round(state.y[b, k] / BLOCK))
        if 0 <= row < grid and 0 <= col < grid:
            out[b, row, col] = k
    return out


def state_features(state: WorldState) -> np.ndarray:
    """(B, g, g) int: the exact cell grid (:func:`cell_labels`), the input of the :class:`StateEncoder`."""
    return cell_labels(state)


class StateEncoder(nn.Module):
    """Object-centric input from the exact state: the true cell grid, one-hot, through a :class:`SlotHead`.

    (B, g, g) int -> (B, K, dim), one token per block colour (PaLM-E's "state estimation" input).
    """

    def __init__(self, dim: int = 64, grid: int = GRID):
        super().__init__()
        self.dim, self.n_tokens, self.grid = dim, N_COLOURS, grid
        self.slots = SlotHead(dim, grid)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        if states.dim() != 3 or tuple(states.shape[1:]) != (self.grid, self.grid):
            raise ValueError(f"states must be (B, {self.grid}, {self.grid}) cell labels, got {tuple(states.shape)}")
        return self.slots(F.one_hot(states.long(), N_COLOURS + 1).float())


# ----------------------------------------------------------------------------------------------
# multimodal sentences: examples, entity referrals, batching, injection, the answer-only loss
# ----------------------------------------------------------------------------------------------
@dataclass
class Example:
    """One training sentence: ``prompt`` (with placeholders) then ``answer``.

    ``scene`` is what the encoders see: an image (S, S, 3) uint8 or the exact cell grid (g, g) from
    :func:`state_features`. ``<img>`` stands for the whole image; each ``<obj>`` for one object of the
    scene, the block ``objects[i]`` for the i-th ``<obj>`` (an entity referral). Language-only text has
    an empty prompt and no scene: all of it is the "answer", all of it is trained.
    """

    prompt: str
    answer: str
    kind: str = "language"
    scene: np.ndarray | None = None
    objects: list = field(default_factory=list)


_COLOUR_RE = re.compile(r"\b(" + "|".join(COLOURS) + r")\b")


def referral_prompt(question: str) -> tuple[str, list[int]]:
    """Entity referrals: "<obj>" after every colour name in ``question``, and the block each one means.

    "Is the red object below the blue object?" ->
    ("Is the red <obj> object below the blue <obj> object?", [0, 4])
    """
    objects = [COLOURS.index(m.group(1)) for m in _COLOUR_RE.finditer(question)]
    return _COLOUR_RE.sub(lambda m: m.group(1) + " <obj>", question), objects


@dataclass
class MultimodalBatch:
    """Right-padded token ids and everything the placeholders need, for a batch of mixed tasks."""

    ids: torch.Tensor            # (B, T) token ids; <img> repeated n_tokens times; <pad> after each sentence
    answer_mask: torch.Tensor    # (B, T) bool, True on answer tokens (and the closing <eos>)
    lengths: torch.Tensor        # (B,) tokens before the padding
    images: torch.Tensor | None  # (n_img, S, S, 3) uint8: the scenes that are images
    states: torch.Tensor | None  # (n_state, g, g) long: the scenes that are exact cell grids
    image_of: torch.Tensor       # (number of <img>,) which image each <img> shows, in reading order
    object_of: torch.Tensor      # (number of <obj>, 2) (scene, block) of each <obj>, in reading order;
                                 # scenes are numbered images first, then states
    kinds: list

    def to(self, device) -> "MultimodalBatch":
        move = (lambda t: None if t is None else t.to(device))
        return MultimodalBatch(move(self.ids), move(self.answer_mask), move(self.lengths), move(self.images),
                               move(self.states), move(self.image_of), move(self.object_of), self.kinds)


def pad_batch(prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], pad_id: int):
    """Sentences of any lengths side by side: ``prompts[i] + answers[i]``, right-padded with ``pad_id``.

    Returns ``ids`` (B, T) long with T the longest sentence, and ``answer_mask`` (B, T) bool, True
    exactly on the answer tokens. A language-only sentence has an empty prompt; a prompt to be
    completed by decoding has an empty answer.
    """
    if len(prompts) != len(answers) or not prompts:
        raise ValueError(f"need as many prompts as answers (at least one), got {len(prompts)} and {len(answers)}")
    T = max(len(p) + len(a) for p, a in zip(prompts, answers))
    ids = torch.full((len(prompts), T), pad_id, dtype=torch.long)
    answer_mask = torch.zeros(len(prompts), T, dtype=torch.bool)
    for b, (p, a) in enumerate(zip(prompts, answers)):
        row = list(p) + list(a)
        ids[b, :len(row)] = torch.tensor(row, dtype=torch.long)
        answer_mask[b, len(p):len(row)] = True
    return ids, answer_mask


def collate(examples: Sequence[Example], tokenizer: MultimodalTokenizer, image_tokens: int,
            with_answers: bool = True) -> MultimodalBatch:
    """Tokenize a list of examples of any tasks into one :class:`MultimodalBatch`.

    Each ``<img>`` becomes ``image_tokens`` copies of its id (one per visual token). The observations
    are gathered in reading order. ``with_answers=False`` keeps only the prompts (for decoding). A
    sentence whose placeholders do not match its observations raises ValueError.
    """
    img_id, obj_id = tokenizer.placeholder_id["<img>"], tokenizer.placeholder_id["<obj>"]
    prompts, answers, images, states, image_of, object_of = [], [], [], [], [], []
    scene_ref = []                               # per example: ("image" | "state", index) or None
    for i, ex in enumerate(examples):
        ids = tokenizer.encode(ex.prompt)
        n_img, n_obj = ids.count(img_id), ids.count(obj_id)
        scene = None if ex.scene is None else np.asarray(ex.scene)
        is_image = scene is not None and scene.ndim == 3
        if n_img > 1:
            raise ValueError(f"example {i} has {n_img} <img> placeholders; a sentence shows at most one image")
        if n_img == 1 and not is_image:
            raise ValueError(f"example {i} has an <img> placeholder but its scene is not an image: {ex.prompt!r}")
        if n_obj != len(ex.objects):
            raise ValueError(f"example {i} has {n_obj} <obj> placeholder(s) but names {len(ex.objects)} "
                             f"object(s) {list(ex.objects)}: {ex.prompt!r}")
        if n_obj and scene is None:
            raise ValueError(f"example {i} refers to objects (<obj>) but has no scene: {ex.prompt!r}")
        if scene is not None and (n_img or n_obj):
            (images if is_image else states).append(scene)
            scene_ref.append(("image" if is_image else "state", len(images if is_image else states) - 1))
        else:
            scene_ref.append(None)
        expanded = []
        for t in ids:
            expanded.extend([t] * image_tokens if t == img_id else [t])
        prompts.append(expanded)
        answers.append(tokenizer.encode(ex.answer) + [tokenizer.eos_id] if with_answers else [])
        if n_img:
            image_of.append(scene_ref[-1][1])
        object_of.extend((scene_ref[-1], int(k)) for k in ex.objects)
    ids, answer_mask = pad_batch(prompts, answers, tokenizer.pad_id)
    n_images = len(images)
    obj = [(ref[1] + (n_images if ref[0] == "state" else 0), k) for ref, k in object_of]
    return MultimodalBatch(
        ids, answer_mask, torch.tensor([len(p) + len(a) for p, a in zip(prompts, answers)]),
        torch.from_numpy(np.stack(images)) if images else None,
        torch.from_numpy(np.stack(states)) if states else None,
        torch.tensor(image_of, dtype=torch.long),
        torch.tensor(obj, dtype=torch.long).reshape(-1, 2),
        [ex.kind for ex in examples])


def inject(token_embeddings: torch.Tensor, placeholder_mask: torch.Tensor, encoder_tokens: torch.Tensor) -> torch.Tensor:
    """Put the encoders' tokens where the placeholders are: the heart of a multimodal sentence.

    token_embeddings (B, T, C) word embeddings; placeholder_mask (B, T) bool; encoder_tokens (M, C) with
    M = placeholder_mask.sum(). The i-th placeholder position in reading order (row by row, left to
    right) receives ``encoder_tokens[i]``; every other position keeps its word embedding.
    """
    if placeholder_mask.shape != token_embeddings.shape[:2]:
        raise ValueError(f"placeholder_mask {tuple(placeholder_mask.shape)} must match the embeddings' (B, T) "
                         f"{tuple(token_embeddings.shape[:2])}")
    n = int(placeholder_mask.sum())
    if encoder_tokens.dim() != 2 or encoder_tokens.shape[0] != n or encoder_tokens.shape[1] != token_embeddings.shape[2]:
        raise ValueError(f"{n} placeholder positions need encoder_tokens of shape ({n}, {token_embeddings.shape[2]}), "
                         f"got {tuple(encoder_tokens.shape)}")
    out = token_embeddings.clone()
    out[placeholder_mask] = encoder_tokens.to(out.dtype)
    return out


def answer_targets(ids: torch.Tensor, answer_mask: torch.Tensor, ignore_index: int = IGNORE) -> torch.Tensor:
    """Next-token targets that train only the answer: (B, T) with ``targets[b, t] = ids[b, t + 1]`` where
    token t + 1 is an answer token, ``ignore_index`` elsewhere (prompt, placeholders, padding, last position)."""
    if ids.shape != answer_mask.shape:
        raise ValueError(f"ids {tuple(ids.shape)} and answer_mask {tuple(answer_mask.shape)} differ in shape")
    targets = torch.full_like(ids, ignore_index)
    targets[:, :-1] = torch.where(answer_mask[:, 1:], ids[:, 1:], torch.full_like(ids[:, 1:], ignore_index))
    return targets


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------
@dataclass
class PaLMEConfig:
    image_size: int = 56
    image_columns: int = 7       # patch strips of the whole-image encoder
    encoder_dim: int = 64
    freeze_lm: bool = False      # True: only the encoders and projections learn (the LM stays as pretrained)
    normalize_tokens: bool = True  # projections end in a LayerNorm scaled like the LM's word embeddings


class Projection(nn.Module):
    """psi: encoder space -> the LM's embedding space, a linear map then (``scale`` given) a LayerNorm whose
    gain starts at ``scale``, the root-mean-square of the LM's word embeddings, so that injected tokens
    are as large as the words around them."""

    def __init__(self, d_in: int, d_out: int, scale: float | None = None):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.norm = None
        if scale is not None:
            self.norm = nn.LayerNorm(d_out)
            with torch.no_grad():
                self.norm.weight.fill_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        return x if self.norm is None else self.norm(x)


class PaLME(nn.Module):
    """Encoders + projections into the LM's embedding space + a decoder-only LM that answers in text.

    Encoders: ``patches`` (the whole image, for ``<img>``), ``objects`` (object tokens from pixels) and
    ``state`` (object tokens from the exact state), both for ``<obj>``.
    """

    def __init__(self, lm: nn.Module, tokenizer: MultimodalTokenizer, config: PaLMEConfig | None = None,
                 inject_fn: Callable = inject):
        super().__init__()
        self.config = config = config or PaLMEConfig()
        self.lm = as_language_model(lm)
        if self.lm.vocab_size < tokenizer.vocab_size:
            raise ValueError(f"the LM's vocabulary ({self.lm.vocab_size}) is smaller than the tokenizer's "
                             f"({tokenizer.vocab_size})")
        self.tokenizer, self.inject_fn = tokenizer, inject_fn
        d = config.encoder_dim
        self.encoders = nn.ModuleDict({
            "patches": PatchEncoder(config.image_size, config.image_columns, d),
            "objects": ObjectEncoder(config.image_size, dim=d),
            "state": StateEncoder(dim=d),
        })
        # one slot head reads both cell grids, estimated from pixels or exact from the simulator, so the same
        # trained network can be asked with either input (image vs state)
        self.encoders["state"].slots = self.encoders["objects"].slots
        # the projections psi of the paper: encoder space -> the LM's word-embedding space
        # (normalised to the size of a word embedding: encoder tokens 40 times larger than the words
        # around them drown the LM's position embeddings, and training is slower and stalls)
        with torch.no_grad():
            scale = float(self.lm.embed_tokens(torch.arange(min(tokenizer.vocab_size, 512), device=next(self.lm.parameters()).device)).pow(2).mean().sqrt())
        self.projections = nn.ModuleDict({p: Projection(d, self.lm.n_embd, scale if config.normalize_tokens else None)
                                          for p in PLACEHOLDERS})
        self.set_freeze_lm(config.freeze_lm)

    def set_freeze_lm(self, freeze: bool) -> None:
        self.config.freeze_lm = freeze
        for p in self.lm.parameters():
            p.requires_grad_(not freeze)

    def collate(self, examples: Sequence[Example], with_answers: bool = True) -> MultimodalBatch:
        return collate(examples, self.tokenizer, self.encoders["patches"].n_tokens, with_answers)

    def object_tokens(self, batch: MultimodalBatch) -> torch.Tensor:
        """(n_scenes, K, encoder_dim): every object of every scene, images first, then states."""
        parts = []
        if batch.images is not None:
            parts.append(self.encoders["objects"](batch.images))
        if batch.states is not None:
            parts.append(self.encoders["state"](batch.states))
        return torch.cat(parts)

    def embed(self, batch: MultimodalBatch) -> torch.Tensor:
        """(B, T, C): word embeddings, with the projected encoder tokens at the placeholders."""
        x = self.lm.embed_tokens(batch.ids)
        C = x.shape[-1]
        img_mask = batch.ids == self.tokenizer.placeholder_id["<img>"]
        if img_mask.any():
            visual = self.encoders["patches"](batch.images[batch.image_of])                  # (n, N, d)
            x = self.inject_fn(x, img_mask, self.projections["<img>"](visual).reshape(-1, C))
        obj_mask = batch.ids == self.tokenizer.placeholder_id["<obj>"]
        if obj_mask.any():
            slots = self.object_tokens(batch)                                                # (n_scenes, K, d)
            chosen = slots[batch.object_of[:, 0], batch.object_of[:, 1]]                     # (M, d)
            x = self.inject_fn(x, obj_mask, self.projections["<obj>"](chosen))
        return x

    def forward(self, batch: MultimodalBatch):
        """Logits (B, T, V) and the mean cross-entropy over the answer tokens."""
        self._check_length(batch)
        logits = self.lm(self.embed(batch))
        targets = answer_targets(batch.ids, batch.answer_mask)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        return logits, loss

    def answer_logits(self, batch: MultimodalBatch):
        """(logits (M, V), targets (M,), rows (M,)) at the M positions that predict an answer token only:
        the output layer and softmax run where the loss needs them, a third of the positions or less."""
        self._check_length(batch)
        targets = answer_targets(batch.ids, batch.answer_mask)
        keep = targets != IGNORE
        h = self.lm.hidden(self.embed(batch))                                  # (B, T, C)
        rows = torch.nonzero(keep)[:, 0]
        return self.lm.logits(h[keep]), targets[keep], rows

    def loss(self, batch: MultimodalBatch, weighting: str = "example") -> torch.Tensor:
        """The answer-only cross-entropy. ``weighting="token"``: the mean over all answer tokens of the
        batch (``forward``'s loss); ``"example"``: the mean over examples of each one's mean over its
        answer tokens, so that a one-word answer counts as much as a five-step plan."""
        logits, targets, rows = self.answer_logits(batch)
        if weighting == "token":
            return F.cross_entropy(logits, targets)
        if weighting != "example":
            raise ValueError(f"weighting must be 'token' or 'example', got {weighting!r}")
        ce = F.cross_entropy(logits, targets, reduction="none")               # (M,)
        B = batch.ids.shape[0]
        count = torch.zeros(B, device=ce.device).index_add_(0, rows, torch.ones_like(ce))
        total = torch.zeros(B, device=ce.device).index_add_(0, rows, ce)
        has = count > 0
        return (total[has] / count[has]).mean()

    def _check_length(self, batch: MultimodalBatch) -> None:
        if batch.ids.shape[1] > self.lm.block_size:
            raise ValueError(f"batch of length {batch.ids.shape[1]} exceeds the LM's block_size {self.lm.block_size}")


def pretrain_object_encoder(model: PaLME, n_scenes: int = 1000, steps: int = 300, batch_size: int = 64,
                            lr: float = 3e-2, seed: int = 0, device=None, freeze: bool = True) -> float:
    """Teach the object encoder's cell classifier the block colours, with labels from the simulator.

    PaLM-E starts from pretrained encoders (ViT, OSRT); ours learns to name the colour in each cell
    before the multimodal training, and (``freeze=True``) keeps that classifier fixed afterwards, as a
    pretrained perception module. Returns the cell accuracy on fresh scenes.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    enc = model.encoders["objects"].to(device)
    rng = np.random.default_rng(seed)
    scenes = sample_scenes(n_scenes, rng)
    images = torch.from_numpy(render(scenes, enc.image_size))
    labels = torch.from_numpy(cell_labels(scenes, enc.grid))
    opt = torch.optim.Adam(enc.cell.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, n_scenes, batch_size))
        logits = enc.cell_logits(images[idx].to(device))
        loss = F.cross_entropy(logits.reshape(-1, N_COLOURS + 1), labels[idx].to(device).reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    enc.cell.requires_grad_(not freeze)
    test = sample_scenes(200, np.random.default_rng(seed + 1))
    with torch.no_grad():
        pred = enc.cell_logits(torch.from_numpy(render(test, enc.image_size)).to(device)).argmax(-1).cpu()
    return float((pred == torch.from_numpy(cell_labels(test, enc.grid))).float().mean())


# ----------------------------------------------------------------------------------------------
# the task mixture
# ----------------------------------------------------------------------------------------------
MODALITIES = ("image", "objects", "state")


def make_prompt(question: str, modality: str) -> tuple[str, list[int]]:
    """The multimodal sentence for ``question``: ``"<img> Q: ... A:"`` for the whole image, or the
    question with entity referrals (``<obj>`` after each colour) for object tokens."""
    if modality == "image":
        return f"<img> Q: {question} A:", []
    if modality in ("objects", "state"):
        prompt, objects = referral_prompt(question)
        return f"Q: {prompt} A:", objects
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")


def observe(state: WorldState, modality: str, image_size: int = 56) -> np.ndarray:
    """What the encoders of ``modality`` see for every world of ``state``."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return state_features(state) if modality == "state" else render(state, image_size)


def make_examples(n_scenes: int, kinds: Sequence[str] = TASK_FAMILIES, seed: int = 0, modality: str = "objects",
                  per_scene: int = 1, image_size: int = 56, world: WorldConfig | None = None,
                  progress: bool = False) -> list[Example]:
    """Examples from the world's question generators on ``n_scenes`` fresh scenes, exact answers included.

    Each scene gets ``per_scene`` questions of every kind in ``kinds`` (fewer where the scene allows none).
    ``modality``: "image" (``<img>``: the whole frame as patch tokens), "objects" (entity referrals to
    object tokens computed from the frame) or "state" (object tokens from the exact state).
    """
    unknown = set(kinds) - set(TASK_FAMILIES)
    if unknown:
        raise ValueError(f"unknown task families {sorted(unknown)}; expected some of {TASK_FAMILIES}")
    rng = np.random.default_rng(seed)
    scenes = sample_scenes(n_scenes, rng, world)
    obs = observe(scenes, modality, image_size)
    out = []
    it = range(n_scenes)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="questions", leave=False)
    for b in it:
        for kind in kinds:
            for _ in range(per_scene):
                qa = ask(scenes, kind, rng, b)
                if qa is not None:
                    prompt, objects = make_prompt(qa.question, modality)
                    out.append(Example(prompt, qa.answer, kind, obs[b], objects))
    return out


def language_examples(n: int, split: str = "train", seed: int = 0, max_tokens: int = 40) -> list[Example]:
    """``n`` passages of pydoc text, ``max_tokens`` word tokens each (language-only, trained on every token)."""
    tokens = word_split(load_pydoc_corpus(split))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(tokens) - max_tokens, n)
    return [Example("", " ".join(tokens[s:s + max_tokens]), "language") for s in starts]


# ----------------------------------------------------------------------------------------------
# training and evaluation
# ----------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    steps: int = 600
    batch_size: int = 64
    lr: float = 2e-3
    min_lr: float = 1e-4
    warmup_steps: int = 30
    encoder_lr_scale: float = 1.0    # the new encoders and projections may learn faster than the pretrained LM
    weighting: str = "example"       # loss per example ("example") or per answer token ("token")
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    max_seconds: float | None = None   # optional wall-clock cap (the schedule follows the clock)
    length_buckets: int = 2          # each minibatch runs as this many groups of similar length (same gradient, fewer pads)
    progress: bool = True

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")


def _lr(progress: float, cfg: TrainConfig) -> float:
    warm = cfg.warmup_steps / max(cfg.steps, 1)
    if progress < warm:
        return cfg.lr * progress / warm
    decay = min(1.0, (progress - warm) / max(1e-9, 1 - warm))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * decay)) * (cfg.lr - cfg.min_lr)


@dataclass
class TrainHistory:
    steps: list = field(default_factory=list)        # steps at which the running loss was logged
    loss: list = field(default_factory=list)         # running answer-token loss (nats/token)
    eval_steps: list = field(default_factory=list)   # steps at which the held-out examples were scored
    accuracy: list = field(default_factory=list)     # per evaluation: {family: exact match}
    seconds: float = 0.0
    steps_done: int = 0


def train_palme(model: PaLME, examples: Sequence[Example], cfg: TrainConfig, device=None,
                eval_examples: Sequence[Example] | None = None, eval_every: int = 0) -> TrainHistory:
    """AdamW on the answer-token loss over random minibatches of the (mixed) examples.

    With ``model.config.freeze_lm`` only the encoders and projections learn. With ``eval_examples``
    and ``eval_every``, the exact match per family is measured along the way (and at the end).
    """
    if not examples:
        raise ValueError("no examples to train on")
    device = torch.device(device) if device is not None else torch.device("cpu")
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    lm_params = {id(p) for p in model.lm.parameters()}
    groups = [{"params": [p for p in params if id(p) in lm_params], "scale": 1.0},
              {"params": [p for p in params if id(p) not in lm_params], "scale": cfg.encoder_lr_scale}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    lengths = np.array([sentence_length(ex, model) for ex in examples])
    hist, running = TrainHistory(), None
    start = time.perf_counter()
    bar = None
    it = range(cfg.steps)
    if cfg.progress:
        from tqdm.auto import tqdm
        it = bar = tqdm(it, desc="training PaLM-E", leave=False)
    step_i = 0
    for step_i in it:
        progress = step_i / cfg.steps
        if cfg.max_seconds is not None:
            progress = max(progress, (time.perf_counter() - start) / cfg.max_seconds)
            if progress >= 1.0:
                break
        for group in opt.param_groups:
            group["lr"] = _lr(progress, cfg) * group["scale"]
        idx = rng.integers(0, len(examples), cfg.batch_size)
        opt.zero_grad(set_to_none=True)
        loss = _batch_loss_backward(model, [examples[i] for i in idx], lengths[idx], cfg, device)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step_i % 10 == 0:
            hist.steps.append(step_i + 1)
            hist.loss.append(running)
            if bar is not None:
                bar.set_postfix(loss=f"{running:.3f}")
        if eval_examples is not None and eval_every and (step_i + 1) % eval_every == 0:
            hist.eval_steps.append(step_i + 1)
            hist.accuracy.append(evaluate(model, eval_examples, device=device))
            model.train()
    else:
        step_i = cfg.steps
    hist.steps_done = step_i if step_i == cfg.steps else step_i
    if eval_examples is not None and (not hist.eval_steps or hist.eval_steps[-1] != hist.steps_done):
        hist.eval_steps.append(hist.steps_done)
        hist.accuracy.append(evaluate(model, eval_examples, device=device))
    hist.seconds = time.perf_counter() - start
    model.eval()
    return hist


def sentence_length(example: Example, model: PaLME) -> int:
    """Positions the example takes in a batch: prompt (each ``<img>`` as its visual tokens), answer, ``<eos>``."""
    tok = model.tokenizer
    n_img = example.prompt.count("<img>")
    return (len(tok.encode(example.prompt)) + n_img * (model.encoders["patches"].n_tokens - 1)
            + len(tok.encode(example.answer)) + 1)


def _batch_loss_backward(model: PaLME, examples: list, lengths: np.ndarray, cfg: TrainConfig, device) -> torch.Tensor:
    """The minibatch loss, with its gradient accumulated: the batch is cut into ``cfg.length_buckets``
    groups of similar length (fewer pads to compute), each group's loss weighted by its share of the
    examples (or of the answer tokens), which gives the same loss and gradient as one padded batch."""
    order = np.argsort(lengths, kind="stable")
    groups = [g for g in np.array_split(order, max(1, min(cfg.length_buckets, len(examples)))) if len(g)]
    batches = [model.collate([examples[i] for i in g]).to(device) for g in groups]
    if cfg.weighting == "token":
        weights = [float(b.answer_mask[:, 1:].sum()) for b in batches]
    else:
        weights = [float(len(g)) for g in groups]
    total = sum(weights)
    loss = 0.0
    for b, w in zip(batches, weights):
        part = model.loss(b, cfg.weighting) * (w / total)
        part.backward()
        loss = loss + part.detach()
    return loss


@torch.no_grad()
def exact_match(model: PaLME, examples: Sequence[Example], batch_size: int = 128, device=None) -> np.ndarray:
    """(n,) bool: would greedy decoding reproduce each answer exactly (up to and including <eos>)?

    Greedy decoding reproduces the answer exactly if and only if, with the true answer as context,
    the most likely next token is right at every answer position; so one teacher-forced pass per batch
    computes the exact match of greedy decoding (see :func:`generate` for the decoder itself).
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(examples), batch_size):
        batch = model.collate(examples[i:i + batch_size]).to(device)
        logits, targets, row = model.answer_logits(batch)                     # (M, V), (M,), (M,)
        wrong = (logits.argmax(-1) != targets).long()
        errors = torch.zeros(batch.ids.shape[0], dtype=torch.long, device=wrong.device).index_add_(0, row, wrong)
        out.append((errors == 0).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, bool)


def evaluate(model: PaLME, examples: Sequence[Example], device=None) -> dict[str, float]:
    """Exact-match accuracy per task family (and "all") on held-out examples."""
    em = exact_match(model, examples, device=device)
    kinds = np.array([ex.kind for ex in examples])
    res = {k: float(em[kinds == k].mean()) for k in TASK_FAMILIES if (kinds == k).any()}
    res["all"] = float(em.mean()) if len(em) else float("nan")
    return res


@torch.no_grad()
def generate(model: PaLME, examples: Sequence[Example], max_new_tokens: int = 60, device=None,
             stop: Sequence[str] = ()) -> list[str]:
    """Greedy decoding of the answers to the examples' prompts (their answers are ignored).

    Right-padded prompts, one forward pass per new token (no cache: the model is tiny); each row
    reads its next token at its own last position. Stops a row at <eos> or at any token in ``stop``.
    """
    device = device or next(model.parameters()).device
    model.eval()
    tok = model.tokenizer
    batch = model.collate(examples, with_answers=False).to(device)
    B, T0 = batch.ids.shape
    total = min(T0 + max_new_tokens, model.lm.block_size)
    embeds = torch.zeros(B, total, model.lm.n_embd, device=device)
    embeds[:, :T0] = model.embed(batch)
    lengths = batch.lengths.clone().to(device)
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=device)
    stop_ids = {tok.eos_id} | {tok.stoi[s] for s in stop if s in tok.stoi}
    rows = torch.arange(B, device=device)
    while not done.all() and int(lengths.max()) < total:
        width = int(lengths.max())
        logits = model.lm(embeds[:, :width])                                  # (B, width, V)
        nxt = logits[rows, lengths - 1].argmax(-1)                            # (B,)
        for b in torch.nonzero(~done).flatten().tolist():
            t = int(nxt[b])
            out[b].append(t)
            if t in stop_ids:
                done[b] = True
        live = ~done & (lengths < total)
        embeds[rows[live], lengths[live]] = model.lm.embed_tokens(nxt[live])
        lengths = torch.where(live, lengths + 1, lengths)
        done |= lengths >= total
    return [tok.decode(o) for o in out]


# ----------------------------------------------------------------------------------------------
# closing the loop: the model plans, a policy executes
# ----------------------------------------------------------------------------------------------
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
        if self.kind == "grasping":
            return success_many(state, [0] * state.batch_size, [self.a] * state.batch_size, [-1] * state.batch_size)
        return success_many(state, [1] * state.batch_size, [self.a] * state.batch_size, [self.b] * state.batch_size)


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
            want = "grasping" if len(tasks) % 2 == 0 else "stacking"
            options = []
            if want == "grasping":
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
    clause = m.group(0)
    return Instruction(family, obj, arg, clause)


def _retract(state: WorldState, rows: np.ndarray, height: float = 0.6, max_steps: int = 12) -> None:
    """Open the gripper (a held block falls) and raise the palm to ``height``: the arm's home pose."""
    for _ in range(max_steps):
        low = rows[state.gripper[rows, 1] < height - 1e-6]
        if low.size == 0:
            break
        action = np.zeros((state.batch_size, 3))
        action[:, 2] = np.where(state.held >= 0, 1.0, -1.0)   # everyone else keeps its grip
        action[low] = [0.0, 1.0, -1.0]
        world_step(state, action)


@dataclass
class LoopResult:
    success: np.ndarray              # (n,) bool, the task's goal reached
    planner_calls: np.ndarray        # (n,) how many times the model was asked
    control_steps: np.ndarray        # (n,) low-level steps taken
    transcript: list                 # per episode: the steps the model said, in order
    frames: list                     # per recorded episode: (T, H, W, 3) frames


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
            exs.append(Example(prompt, "", scene=obs[j], objects=objects))
        return generate(model, exs, max_new_tokens=16, device=device, stop=(",", "."))

    return planner


def closed_loop(planner, scenes: WorldState, tasks: Sequence[Task], executor="expert", *,
                max_calls: int = 4, max_steps: int = 60, record: int = 0, modality: str = "objects",
                device=None, temperature: float = 0.5, seed: int = 0) -> LoopResult:
    """The planner looks at the scene and says the next step; the executor performs it; repeat until done.

    ``planner``: a :class:`PaLME` model (it sees ``modality``) or a function ``(state, tasks) -> texts``
    such as :func:`oracle_planner`. ``executor``: ``"expert"`` (the scripted expert, near-perfect
    control) or a policy with ``act(frames (B, k, H, W, 3), texts, temperature, rng) -> actions`` (LAVA),
    which samples its actions at ``temperature`` (as :func:`lecturelib.lava.evaluate` does; 0: the most
    likely action). After each step the arm returns to its home pose (gripper open, palm up) before the
    planner looks again.
    """
    if scenes.batch_size != len(tasks):
        raise ValueError(f"{scenes.batch_size} scenes but {len(tasks)} tasks")
    if isinstance(planner, PaLME):
        planner = model_planner(planner, modality, device)
    state = scenes.copy()
    n = len(tasks)
    rng = np.random.default_rng(seed)
    calls, steps = np.zeros(n, int), np.zeros(n, int)
    transcript: list[list[str]] = [[] for _ in range(n)]
    movies = [[render(state.index(i), 128)[0]] for i in range(record)]

    def goal() -> np.ndarray:
        return np.array([bool(t.done(state.index(i))[0]) for i, t in enumerate(tasks)])

    done = goal()
    for _ in range(max_calls):
        live = np.flatnonzero(~done)
        if live.size == 0:
            break
        said = planner(state.index(live), [tasks[i] for i in live])
        calls[live] += 1
        steps_ins = []
        for j, i in enumerate(live):
            transcript[i].append(said[j])
            steps_ins.append(parse_step(said[j]))
        act_rows = np.array([i for i, ins in zip(live, steps_ins) if ins is not None], int)
        ins_of = {i: ins for i, ins in zip(live, steps_ins) if ins is not None}
        if act_rows.size == 0:
            break
        fam = np.array([FAMILIES.index(ins_of[i].family) for i in act_rows])
        obj = np.array([ins_of[i].obj for i in act_rows])
        arg = np.array([ins_of[i].arg for i in act_rows])
        texts = [ins_of[i].text for i in act_rows]
        finished = np.zeros(act_rows.size, bool)
        hist = None
        for _t in range(max_steps):
            sub = state.index(act_rows)
            finished |= success_many(sub, fam, obj, arg)
            if finished.all():
                break
            if executor == "expert":
                action = expert_action(sub, fam, obj, arg)
            else:
                frame = render(sub, executor.model.config.image_size)
                k = executor.model.config.frames
                hist = np.repeat(frame[:, None], k, 1) if hist is None else np.concatenate([hist[:, 1:], frame[:, None]], 1)
                action = executor.act(hist, texts, temperature=temperature, rng=rng)
            action[finished] = 0.0
            action[finished, 2] = np.where(fam[finished] == 0, 1.0, -1.0)
            full = np.zeros((n, 3))
            full[:, 2] = np.where(state.held >= 0, 1.0, -1.0)
            full[act_rows] = action
            world_step(state, full)
            steps[act_rows[~finished]] += 1
            for r in set(range(record)) & set(act_rows.tolist()):
                movies[r].append(render(state.index(r), 128)[0])
        done = goal()
        _retract(state, np.flatnonzero(~done))
    return LoopResult(goal(), calls, steps, transcript, [np.stack(m) for m in movies])


# ----------------------------------------------------------------------------------------------
# the longer run
# ----------------------------------------------------------------------------------------------
def train_main(argv: list[str] | None = None) -> int:
    """The longer run: pretrain the LM on text, train PaLM-E on the full task mixture from images
    (object tokens from pixels), report exact match per task family, the language loss before and
    after, and the closed loop on two-step tasks with the scripted expert (and LAVA, given a policy)."""
    from . import describe_device, device as pick_device, seed_everything

    p = argparse.ArgumentParser(prog="course train palme", description=train_main.__doc__)
    p.add_argument("--scenes", type=int, default=6000, help="training scenes (one question of each kind per scene)")
    p.add_argument("--test-scenes", type=int, default=300, help="held-out scenes for the accuracy per family")
    p.add_argument("--modality", default="objects", choices=list(MODALITIES))
    p.add_argument("--max-vocab", type=int, default=800)
    p.add_argument("--lm-steps", type=int, default=300, help="text pretraining steps")
    p.add_argument("--steps", type=int, default=8000,
                   help="PaLM-E training steps (with the defaults, seeds 0 and 1 met the accuracy targets; ~11 min on 1 CPU thread)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=64)
    p.add_argument("--language", type=float, default=0.1, help="fraction of language-only examples")
    p.add_argument("--episodes", type=int, default=100, help="closed-loop episodes")
    p.add_argument("--lava", default=None, help="a LAVA policy saved by lecturelib.lava.save_policy: also run it as executor")
    p.add_argument("--transfer", type=int, default=0,
                   help="also measure positive transfer: N stacking examples alone vs inside the mixture (0: skip)")
    p.add_argument("--transfer-steps", type=int, default=600)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (tiny models: 1 is fastest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None, help="save the trained model's state dict here")
    p.add_argument("--json", default=None, help="write the measured figures to this JSON file")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    dev = pick_device(args.device)
    if dev.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    progress = not args.no_progress
    print(f"device: {describe_device(dev)}")
    t0 = time.perf_counter()
    tok = build_tokenizer(args.max_vocab, seed=args.seed)
    lm = make_lm(tok, n_layer=args.n_layer, n_embd=args.n_embd, block_size=112)
    _, val_ids = pretrain_lm(lm, tok, args.lm_steps, batch_size=16, device=dev, seed=args.seed, progress=progress)
    lang_before = language_loss(lm, val_ids)
    lm_state = {k: v.detach().clone() for k, v in lm.state_dict().items()}
    print(f"text pretraining {time.perf_counter() - t0:.0f} s, held-out loss {lang_before:.3f} nats/token")
    train = make_examples(args.scenes, seed=args.seed + 1, modality=args.modality, progress=progress)
    n_lang = int(args.language * len(train) / max(1e-9, 1 - args.language))
    train += language_examples(n_lang, seed=args.seed)
    test = make_examples(args.test_scenes, seed=args.seed + 100, modality=args.modality)
    model = PaLME(lm, tok).to(dev)
    figures = {}
    if args.modality == "objects":
        figures["cell_accuracy"] = pretrain_object_encoder(model, seed=args.seed, device=dev)
    t1 = time.perf_counter()
    hist = train_palme(model, train, TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                                 seed=args.seed, progress=progress), device=dev)
    figures.update({"train_seconds": time.perf_counter() - t1, "steps": hist.steps_done,
                    "language_before": lang_before, "language_after": language_loss(model, val_ids)})
    figures.update({f"accuracy/{k}": v for k, v in evaluate(model, test, device=dev).items()})
    scenes, tasks = two_step_tasks(args.episodes, seed=args.seed + 200)
    figures["closed_loop/expert"] = float(closed_loop(model, scenes, tasks, "expert", modality=args.modality,
                                                      device=dev).success.mean())
    figures["closed_loop/oracle_planner+expert"] = float(closed_loop(oracle_planner, scenes, tasks).success.mean())
    if args.lava:
        from .lava import load_policy
        policy = load_policy(args.lava, device=dev)
        figures["closed_loop/lava"] = float(closed_loop(model, scenes, tasks, policy, modality=args.modality,
                                                        device=dev).success.mean())
        figures["closed_loop/oracle_planner+lava"] = float(closed_loop(oracle_planner, scenes, tasks, policy).success.mean())
    if args.transfer:
        pool = make_examples(args.scenes, seed=args.seed + 1, modality=args.modality)
        few = [e for e in pool if e.kind == "stacking"][:args.transfer]
        others = [e for e in pool if e.kind != "stacking"]
        stack_test = [e for e in test if e.kind == "stacking"]
        for name, data in (("alone", few), ("mixture", few * max(1, len(others) // len(few)) + others)):
            seed_everything(args.seed)
            m = PaLME(make_lm(tok, n_layer=args.n_layer, n_embd=args.n_embd, block_size=112), tok).to(dev)
            m.lm.gpt.load_state_dict(lm_state)
            if args.modality == "objects":
                pretrain_object_encoder(m, seed=args.seed, device=dev)
            train_palme(m, data, TrainConfig(steps=args.transfer_steps, batch_size=args.batch_size, lr=args.lr,
                                             seed=args.seed, progress=progress), device=dev)
            figures[f"transfer/stacking_{name}"] = evaluate(m, stack_test, device=dev)["all"]
    for k, v in figures.items():
        print(f"{k}: {v:.3f}")
    if args.out:
        torch.save(model.state_dict(), args.out)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main(None))
