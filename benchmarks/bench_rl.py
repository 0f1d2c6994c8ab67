"""Benchmarks of lecturelib.rl (lesson 03): HER at 25 bits, and a peer comparison with stable-baselines3.

* n = 25 bits, DQN + HER (future, k = 4), a longer budget than the lesson's: final greedy success.
* n = 15 bits, side by side on the *same* random-goal env (lecturelib's BitFlippingEnv; SB3's own
  BitFlippingEnv keeps the goal fixed at all ones, an easier single-goal task): our batched goal-conditioned
  double DQN + HER against stable-baselines3's DQN with its HerReplayBuffer (future, k = 4), both
  evaluated every ~2 000 environment steps on the same 200 random goals with the greedy policy. We
  report the environment steps and wall time (evaluation included for both) to the first evaluation
  with ≥ 90 % success.

stable-baselines3 is a bench-only dependency (`pip install -e .[bench]`, which `make bench` does); it is
imported only here. Everything runs on the CPU, one torch thread, so the comparison is like for like.
"""
from __future__ import annotations

import time

import numpy as np

N_EVAL, EVAL_SEED = 200, 12345


def _ours(n_bits: int, cycles: int, seed: int = 0):
    from lecturelib.rl.dqn import DQNConfig, train_goal_dqn

    return train_goal_dqn(DQNConfig(n_bits=n_bits, her=True, strategy="future", k=4, cycles=cycles, seed=seed),
                          "cpu", progress=False)


def _sb3_to_90(n_bits: int = 15, max_steps: int = 150_000, eval_every: int = 2_000, seed: int = 0):
    """stable-baselines3 DQN + HerReplayBuffer on our env; returns (steps, seconds) at 90 % or None, and the curve."""
    import torch
    from stable_baselines3 import DQN, HerReplayBuffer
    from stable_baselines3.common.callbacks import BaseCallback

    from lecturelib.rl.bitflip import BatchedBitFlipping, BitFlippingEnv
    from lecturelib.rl.threads import cpu_threads

    def success_rate(model) -> float:
        env = BatchedBitFlipping(n_bits, N_EVAL, seed=EVAL_SEED)
        obs = env.reset()
        reached = np.zeros(N_EVAL, dtype=bool)
        for _ in range(env.max_steps):
            if not env.active.any():
                break
            actions, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, _, _ = env.step(np.asarray(actions))
            reached |= terminated
        return float(reached.mean())

    class EvalUntil90(BaseCallback):
        def __init__(self):
            super().__init__()
            self.curve, self.hit, self.start = [], None, time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every:
                return True
            rate = success_rate(self.model)
            self.curve.append((self.num_timesteps, rate, time.perf_counter() - self.start))
            if rate >= 0.9:
                self.hit = (self.num_timesteps, time.perf_counter() - self.start)
                return False
            return True

    torch.manual_seed(seed)
    with cpu_threads(1):
        model = DQN("MultiInputPolicy", BitFlippingEnv(n_bits=n_bits), seed=seed, device="cpu",
                    replay_buffer_class=HerReplayBuffer,
                    replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
                    learning_rate=2e-3, batch_size=256, gamma=0.98, buffer_size=200_000, learning_starts=n_bits * 16,
                    train_freq=(16 * n_bits, "step"), gradient_steps=16, tau=0.05, target_update_interval=1,
                    exploration_fraction=1e-9, exploration_initial_eps=0.2, exploration_final_eps=0.2,
                    policy_kwargs=dict(net_arch=[256]), verbose=0)
        callback = EvalUntil90()
        model.learn(total_timesteps=max_steps, callback=callback)
    return callback.hit, callback.curve


def run() -> list[dict]:
    rows = []
    long25 = _ours(25, cycles=200)
    hit = long25.steps_to(0.8)
    rows.append({"benchmark": "bit flipping, n = 25", "metric": "DQN + HER (future, k=4): final greedy success",
                 "value": f"{100 * long25.final_success:.1f} %",
                 "notes": f"target ≥ 80 %; 200 cycles = {long25.env_steps[-1]} env steps, {long25.wall_time:.0f} s; "
                          f"80 % first at {hit[0] if hit else 'never'} steps; seed 0, 200 random goals"})
    ours = _ours(15, cycles=60)
    ours_hit = ours.steps_to(0.9)
    rows.append({"benchmark": "bit flipping, n = 15 (peer)", "metric": "lecturelib DQN + HER: steps / seconds to 90 %",
                 "value": f"{ours_hit[0]} steps / {ours_hit[1]:.1f} s" if ours_hit else "not reached",
                 "notes": "batched collection (16 episodes), double DQN, 16 updates of 256 per cycle, eval every 5 cycles"})
    from lecturelib.meta import import_learn2learn

    import_learn2learn()  # imports the old `gym` package (which SB3 probes for) without its deprecation notice
    try:
        import stable_baselines3
    except ImportError:
        rows.append({"benchmark": "bit flipping, n = 15 (peer)", "metric": "stable-baselines3 DQN + HER",
                     "value": "not measured", "notes": "stable-baselines3 is not installed (pip install -e .[bench])"})
        return rows
    sb3_hit, curve = _sb3_to_90(15)
    rows.append({"benchmark": "bit flipping, n = 15 (peer)",
                 "metric": f"stable-baselines3 {stable_baselines3.__version__} DQN + HerReplayBuffer: steps / seconds to 90 %",
                 "value": f"{sb3_hit[0]} steps / {sb3_hit[1]:.1f} s" if sb3_hit else
                          f"not reached in {curve[-1][0] if curve else 0} steps ({curve[-1][2] if curve else 0:.0f} s)",
                 "notes": "same env, same eval goals; MLP [256], lr 2e-3, batch 256, γ 0.98, ε 0.2, τ 0.05, "
                          "16 gradient steps every 16·n env steps, eval every 2000 steps"})
    if ours_hit and sb3_hit:
        rows.append({"benchmark": "bit flipping, n = 15 (peer)", "metric": "wall-time ratio SB3 / lecturelib to 90 %",
                     "value": f"{sb3_hit[1] / ours_hit[1]:.1f}×", "notes": "ours must need fewer seconds"})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
