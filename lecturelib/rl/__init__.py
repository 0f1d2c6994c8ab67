"""Reinforcement learning for lessons 03 (goal-conditioned RL) and 04 (meta-RL).

- :mod:`.bitflip`            the HER paper's n-bit flipping environment (gymnasium goal-env API) and a
                             batched numpy form
- :mod:`.her`                hindsight experience replay: the final / future / episode strategies, a replay buffer
- :mod:`.dqn`                goal-conditioned double DQN (+ HER) on bit flipping
- :mod:`.play`               "use any state as goal": relabel play data into (state, goal, action) and imitate it
- :mod:`.rl2`                black-box meta-RL (RL²) on Bernoulli bandits, with UCB / Thompson / random baselines
- :mod:`.adaptive_dynamics`  optimisation-based meta-RL: a MAML-adapted dynamics model with MPC (Nagabandi et al.)
- :mod:`.threads`            one CPU thread for the small networks (faster, and kind to shared machines)

Every algorithm keeps its hyperparameters in one ``@dataclass`` config (CleanRL style) and takes a
``device``.
"""
from .adaptive_dynamics import (TEST_DYNAMICS, Dynamics, DynamicsModel, MetaDynamicsConfig, MPCConfig, PointMass,
                                adapt, cem, dynamics_loss, meta_train_dynamics, prediction_errors, random_shooting,
                                run_mpc, sample_train_dynamics, meta_test_dynamics)
from .bitflip import BatchedBitFlipping, BitFlippingEnv, bitflip_reward
from .dqn import DQNConfig, GoalQNetwork, double_dqn_target, evaluate_success, train_goal_dqn
from .her import STRATEGIES, Episode, HindsightReplayBuffer, ReplayBuffer, her_goals, relabel_episode
from .play import (GridWorld, GoalPolicy, ImitationConfig, collect_play, evaluate_goal_reaching, relabel_play,
                   relabel_play_final, train_goal_imitation)
from .rl2 import (BernoulliBandits, RL2Config, RL2Policy, random_regret, rl2_input, rollout_rl2, thompson_regret,
                  train_rl2, ucb_regret)
from .threads import cpu_threads

__all__ = [
    "BitFlippingEnv", "BatchedBitFlipping", "bitflip_reward",
    "STRATEGIES", "Episode", "her_goals", "relabel_episode", "ReplayBuffer", "HindsightReplayBuffer",
    "DQNConfig", "GoalQNetwork", "double_dqn_target", "train_goal_dqn", "evaluate_success",
    "GridWorld", "collect_play", "relabel_play", "relabel_play_final", "GoalPolicy", "ImitationConfig",
    "train_goal_imitation", "evaluate_goal_reaching",
    "BernoulliBandits", "rl2_input", "RL2Policy", "RL2Config", "train_rl2", "rollout_rl2", "random_regret",
    "ucb_regret", "thompson_regret",
    "Dynamics", "PointMass", "sample_train_dynamics", "TEST_DYNAMICS", "meta_test_dynamics", "DynamicsModel",
    "dynamics_loss", "adapt", "MetaDynamicsConfig", "meta_train_dynamics", "prediction_errors", "random_shooting",
    "cem", "MPCConfig", "run_mpc",
    "cpu_threads",
]
