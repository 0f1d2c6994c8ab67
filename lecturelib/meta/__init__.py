"""Meta-learning for lesson 02: learning to learn, with the pizza puzzle as the meta-test task.

- :mod:`.tasks`      the task family (binary operators on small integers, the pizza operator held out),
                     support/query sampling
- :mod:`.blackbox`   black-box meta-learning: an RNN reads the support set and writes the task parameters
- :mod:`.maml`       MAML and first-order MAML (Finn et al. 2017) with torch.func, vmapped over tasks
- :mod:`.baselines`  training from scratch on the support set, and transfer (pretrain, then fine-tune)
- :mod:`.landscape`  the "which marker is the best θ?" quiz: 2-D quadratic task losses

:func:`import_learn2learn` imports learn2learn (the oracle the tests compare MAML with) quietly.
"""
from __future__ import annotations

import importlib

from .blackbox import BlackBoxConfig, BlackBoxMetaLearner, predict, support_tokens, train_blackbox
from .maml import (MAMLConfig, Regressor, adapt, adapt_and_predict, make_regressor, meta_gradient, meta_loss, mse,
                   query_loss_after_adaptation, train_maml)
from . import baselines, landscape
from .tasks import (PIZZA, PIZZA_ANSWER, PIZZA_QUERY, PIZZA_SUPPORT, Operator, OperatorFamily,
                    OperatorFamilyConfig, TaskBatch)

__all__ = [
    "Operator", "PIZZA", "PIZZA_SUPPORT", "PIZZA_QUERY", "PIZZA_ANSWER", "OperatorFamilyConfig",
    "OperatorFamily", "TaskBatch",
    "BlackBoxConfig", "BlackBoxMetaLearner", "support_tokens", "train_blackbox", "predict",
    "MAMLConfig", "Regressor", "make_regressor", "mse", "adapt", "query_loss_after_adaptation", "meta_loss", "meta_gradient",
    "train_maml", "adapt_and_predict",
    "import_learn2learn", "baselines", "landscape",
]


def import_learn2learn():
    """``import learn2learn`` without the deprecation notice of the old ``gym`` package it pulls in.

    learn2learn 0.2.0 imports gym 0.26, whose ``__init__`` prints a notice from the ``gym_notices``
    package to stderr ("Gym has been unmaintained since 2022 ..."). The course never uses gym (it uses
    gymnasium), so that notice would only confuse students. We empty gym_notices' table for the
    duration of the import and restore it afterwards; every other message and warning still shows.
    """
    try:
        notices = importlib.import_module("gym_notices.notices")
    except ImportError:          # gym_notices absent: nothing to silence
        notices = None
    saved = dict(notices.notices) if notices is not None else None
    if notices is not None:
        notices.notices.clear()
    try:
        return importlib.import_module("learn2learn")
    finally:
        if notices is not None:
            notices.notices.update(saved)
