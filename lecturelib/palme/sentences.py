"""Multimodal sentences (PaLM-E, Driess et al. 2023, section 3): text in which some positions hold
observation embeddings instead of word embeddings.

    "Q: Is the red <obj> object left of the blue <obj> object? A:"   ->   "No, the red object is ..."
                   └─ the token of the red block         └─ the token of the blue block

The parts of a sentence and of a batch of them, in the order the model uses them:

- :class:`MultimodalTokenizer`: lesson 05's word tokens plus ``<pad> <eos> <img> <obj>``;
- :func:`make_prompt`: the question as a sentence for one input modality (``<img>`` for the whole
  frame; ``<obj>`` after each colour name, an *entity referral*, for object tokens);
- :class:`Example` (prompt, answer, the scene the encoders see), :func:`pad_batch` and :func:`collate`
  (right-padded batches of mixed tasks, each ``<img>`` expanded to its visual tokens);
- :func:`inject`: the encoders' tokens replace the placeholders' word embeddings, in reading order;
- :func:`answer_targets`: next-token targets on the answer only (the prompt is never trained).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..transformer.data import load_pydoc_corpus
from ..transformer.tokenizers import WordTokenizer, word_split
from ..world.core import COLOURS, N_COLOURS, WorldConfig, sample_scenes
from ..world.language import all_instruction_texts
from ..world.planning import QUESTION_KINDS, ask
from ..world.symbolic import describe

__all__ = ["PLACEHOLDERS", "SPECIALS", "IGNORE", "MODALITIES", "MultimodalTokenizer", "world_sentences",
           "build_tokenizer", "referral_prompt", "make_prompt", "Example", "MultimodalBatch", "pad_batch",
           "collate", "sentence_length", "inject", "answer_targets"]

PLACEHOLDERS = ("<img>", "<obj>")
SPECIALS = ("<pad>", "<eos>") + PLACEHOLDERS
IGNORE = -100                                # targets that the loss skips (F.cross_entropy's ignore_index)
MODALITIES = ("image", "objects", "state")   # whole-image patches, object tokens from pixels, from the exact state
_PLACEHOLDER_RE = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")")
_NO_SPACE_BEFORE = set(".,?!:;)")
_COLOUR_RE = re.compile(r"\b(" + "|".join(COLOURS) + r")\b")


class MultimodalTokenizer:
    """Word tokens (lesson 05's :class:`WordTokenizer`) plus the special tokens ``<pad> <eos> <img> <obj>``.

    A placeholder is one token here; :func:`collate` expands ``<img>`` to as many positions as the
    image encoder gives tokens.
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
        qa = ask(scenes, QUESTION_KINDS[b % len(QUESTION_KINDS)], rng, b)
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


def referral_prompt(question: str) -> tuple[str, list[int]]:
    """Entity referrals: "<obj>" after every colour name in ``question``, and the block each one means.

    "Is the red object below the blue object?" ->
    ("Is the red <obj> object below the blue <obj> object?", [0, 4])
    """
    objects = [COLOURS.index(m.group(1)) for m in _COLOUR_RE.finditer(question)]
    return _COLOUR_RE.sub(lambda m: m.group(1) + " <obj>", question), objects


def make_prompt(question: str, modality: str) -> tuple[str, list[int]]:
    """The multimodal sentence for ``question``: ``"<img> Q: ... A:"`` for the whole image, or the
    question with entity referrals (``<obj>`` after each colour) for object tokens."""
    if modality == "image":
        return f"<img> Q: {question} A:", []
    if modality in ("objects", "state"):
        prompt, objects = referral_prompt(question)
        return f"Q: {prompt} A:", objects
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")


@dataclass
class Example:
    """One training sentence: ``prompt`` (with placeholders) then ``answer``.

    ``scene`` is what the encoders see: an image (S, S, 3) uint8, or a grid of cells (g, g) with the
    exact colour index in each (:func:`~lecturelib.palme.encoders.state_features`) or (g, g, K + 1) with
    the probability of each colour (what a frozen perception module saw in an image). ``<img>`` stands
    for the whole image; each ``<obj>`` for one object of the scene, the block ``objects[i]`` for the
    i-th ``<obj>`` (an entity referral). Language-only text has an empty prompt and no scene: all of it
    is the "answer", all of it is trained.
    """

    prompt: str
    answer: str
    kind: str = "language"
    scene: np.ndarray | None = None
    objects: list = field(default_factory=list)


@dataclass
class MultimodalBatch:
    """Right-padded token ids and everything the placeholders need, for a batch of mixed tasks."""

    ids: torch.Tensor            # (B, T) token ids; <img> repeated n_tokens times; <pad> after each sentence
    answer_mask: torch.Tensor    # (B, T) bool, True on answer tokens (and the closing <eos>)
    lengths: torch.Tensor        # (B,) tokens before the padding
    images: torch.Tensor | None  # (n_img, S, S, 3) uint8: the scenes that are images
    grids: torch.Tensor | None   # (n_grid, g, g, K + 1) float: the scenes that are cell grids (one-hot if exact)
    image_of: torch.Tensor       # (number of <img>,) which image each <img> shows, in reading order
    object_of: torch.Tensor      # (number of <obj>, 2) (scene, block) of each <obj>, in reading order;
                                 # scenes are numbered images first, then grids
    kinds: list

    def to(self, device) -> "MultimodalBatch":
        move = (lambda t: None if t is None else t.to(device))
        return MultimodalBatch(move(self.ids), move(self.answer_mask), move(self.lengths), move(self.images),
                               move(self.grids), move(self.image_of), move(self.object_of), self.kinds)


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


def _is_image(scene: np.ndarray) -> bool:
    return scene.ndim == 3 and scene.shape[-1] == 3


def _as_grid(scene: np.ndarray, n_colours: int) -> np.ndarray:
    """(g, g, K + 1) float32: exact cell labels one-hot, probabilities as they are."""
    if scene.ndim == 2:
        return np.eye(n_colours + 1, dtype=np.float32)[scene]
    return scene.astype(np.float32, copy=False)


def collate(examples: Sequence[Example], tokenizer: MultimodalTokenizer, image_tokens: int,
            with_answers: bool = True, encoded: Sequence[tuple[list, list]] | None = None) -> MultimodalBatch:
    """Tokenize a list of examples of any tasks into one :class:`MultimodalBatch`.

    Each ``<img>`` becomes ``image_tokens`` copies of its id (one per visual token). The observations
    are gathered in reading order. ``with_answers=False`` keeps only the prompts (for decoding).
    ``encoded`` optionally gives each example's (prompt ids, answer ids) already tokenized (training
    tokenizes each sentence once, not at every step). A sentence whose placeholders do not match its
    observations raises ValueError.
    """
    img_id, obj_id = tokenizer.placeholder_id["<img>"], tokenizer.placeholder_id["<obj>"]
    prompts, answers, images, grids, image_of, object_of = [], [], [], [], [], []
    for i, ex in enumerate(examples):
        if encoded is not None:
            ids, answer = encoded[i]
        else:
            ids, answer = tokenizer.encode(ex.prompt), tokenizer.encode(ex.answer) + [tokenizer.eos_id]
        n_img, n_obj = ids.count(img_id), ids.count(obj_id)
        scene = None if ex.scene is None else np.asarray(ex.scene)
        is_image = scene is not None and _is_image(scene)
        if n_img > 1:
            raise ValueError(f"example {i} has {n_img} <img> placeholders; a sentence shows at most one image")
        if n_img == 1 and not is_image:
            raise ValueError(f"example {i} has an <img> placeholder but its scene is not an image: {ex.prompt!r}")
        if n_obj != len(ex.objects):
            raise ValueError(f"example {i} has {n_obj} <obj> placeholder(s) but names {len(ex.objects)} "
                             f"object(s) {list(ex.objects)}: {ex.prompt!r}")
        if n_obj and scene is None:
            raise ValueError(f"example {i} refers to objects (<obj>) but has no scene: {ex.prompt!r}")
        ref = None                                   # ("image" | "grid", index among those)
        if scene is not None and (n_img or n_obj):
            if is_image:
                images.append(scene)
                ref = ("image", len(images) - 1)
            else:
                grids.append(_as_grid(scene, N_COLOURS))
                ref = ("grid", len(grids) - 1)
        prompts.append([t for p in ids for t in ([p] * image_tokens if p == img_id else [p])])
        answers.append(answer if with_answers else [])
        if n_img:
            image_of.append(ref[1])
        object_of.extend((ref, int(k)) for k in ex.objects)
    ids, answer_mask = pad_batch(prompts, answers, tokenizer.pad_id)
    obj = [(ref[1] + (len(images) if ref[0] == "grid" else 0), k) for ref, k in object_of]
    return MultimodalBatch(
        ids, answer_mask, torch.tensor([len(p) + len(a) for p, a in zip(prompts, answers)]),
        torch.from_numpy(np.stack(images)) if images else None,
        torch.from_numpy(np.stack(grids)) if grids else None,
        torch.tensor(image_of, dtype=torch.long),
        torch.tensor(obj, dtype=torch.long).reshape(-1, 2),
        [ex.kind for ex in examples])


def sentence_length(example: Example, tokenizer: MultimodalTokenizer, image_tokens: int) -> int:
    """Positions the example takes in a batch: prompt (each ``<img>`` as its visual tokens), answer, ``<eos>``."""
    n_img = example.prompt.count("<img>")
    return len(tokenizer.encode(example.prompt)) + n_img * (image_tokens - 1) + len(tokenizer.encode(example.answer)) + 1


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
