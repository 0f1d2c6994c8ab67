"""Mini-CLIP (lecturelib.clip): the symmetric contrastive loss against an explicit oracle, training."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lecturelib.clip import ClipConfig, MiniCLIP, caption_dataset, caption_words, clip_loss, retrieval_accuracy, train_clip
from lecturelib.world.events import generate_play


def _oracle(img, txt, scale):
    """InfoNCE written out with explicit sums, in float64."""
    img, txt = img.double(), txt.double()
    n = img.shape[0]
    total = 0.0
    for i in range(n):
        row = [scale * float(img[i] @ txt[j]) for j in range(n)]
        col = [scale * float(img[j] @ txt[i]) for j in range(n)]
        total += -row[i] + math.log(sum(math.exp(v) for v in row))
        total += -col[i] + math.log(sum(math.exp(v) for v in col))
    return total / (2 * n)


def test_clip_loss_matches_oracle():
    torch.manual_seed(0)
    img = F.normalize(torch.randn(7, 5), dim=-1)
    txt = F.normalize(torch.randn(7, 5), dim=-1)
    for scale in (1.0, 14.3):
        assert clip_loss(img, txt, scale).item() == pytest.approx(_oracle(img, txt, scale), rel=1e-5)


def test_clip_loss_is_symmetric_and_rewards_alignment():
    torch.manual_seed(1)
    img = F.normalize(torch.randn(6, 8), dim=-1)
    txt = F.normalize(torch.randn(6, 8), dim=-1)
    assert clip_loss(img, txt, 10.0).item() == pytest.approx(clip_loss(txt, img, 10.0).item(), rel=1e-6)
    assert clip_loss(img, img, 50.0).item() < 0.01 < clip_loss(img, txt, 50.0).item()


def test_towers_and_training_on_world_frames():
    play = generate_play(8, 60, seed=0)
    data = caption_dataset(play, 300, seed=0)
    assert data.images.shape == (300, 64, 64, 3) and len(data.captions) == 300
    model = MiniCLIP(caption_words(), ClipConfig())
    emb = model.encode_image(torch.from_numpy(data.images[:4]))
    assert emb.shape == (4, 64) and torch.allclose(emb.norm(dim=-1), torch.ones(4), atol=1e-5)
    model, history = train_clip(data, steps=30, batch_size=32, progress=False)
    first, last = np.mean([h[1] for h in history[:5]]), np.mean([h[1] for h in history[-5:]])
    assert last < first
    acc = retrieval_accuracy(model, data, n=20)
    assert 0.0 <= acc <= 1.0


def test_bad_inputs():
    play = generate_play(2, 5, seed=0, image_size=None)
    with pytest.raises(ValueError, match="frames"):
        caption_dataset(play, 10)
