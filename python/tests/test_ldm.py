"""The whole job's checks before training. (Each stage's reports, compiling first, are checked
on test_streaming's tiny run, which trains anyway.)"""

import pytest

from latentlab.train import ldm

TINY = {
    "seed": 0,
    "data": {"dataset": "mnist-bundled", "holdout": 9_968},  # 32 digits to train on
    "model": {"vae": {"channels": 4, "channel_mult": [1, 2]},
              "unet": {"channels": 8, "channel_mult": [1], "attention_resolutions": [],
                       "num_heads": 1}},
    "diffusion": {"beta_schedule": "linear", "num_timesteps": 100, "beta_start": 1e-4,
                  "beta_end": 0.02},
    "train": {"vae": {"steps": 2, "batch_size": 16, "learning_rate": 1e-3, "kl_weight": 1e-3},
              "unet": {"steps": 2, "batch_size": 16, "learning_rate": 1e-3, "ema_decay": 0.9,
                       "label_dropout": 0.1, "loss_weighting": "uniform",
                       "min_snr_gamma": 5.0}},
    "sample": {"num_samples": 2, "sampler": "ddim", "steps": 2, "guidance_scale": 2.0,
               "eta": None, "spacing": "karras", "rho": 7.0},
}


def test_a_holdout_that_leaves_less_than_a_batch_fails_before_training(digits_file):
    reports = []
    config = {**TINY, "data": {"dataset": "mnist-bundled", "holdout": 9_995}}
    with pytest.raises(ValueError, match=r"^data.holdout: leaves 5 training examples, fewer "
                                         r"than train.unet.batch_size 16"):
        ldm.train_and_sample(config, str(digits_file), lambda *a: reports.append(a))
    assert reports == []


def test_a_limit_smaller_than_a_batch_fails_before_training(digits_file):
    reports = []
    config = {**TINY, "data": {"dataset": "mnist-bundled", "holdout": 1000, "limit": 12}}
    with pytest.raises(ValueError, match=r"^data.limit: 12 training examples, fewer than "
                                         r"train.unet.batch_size 16; raise the limit"):
        ldm.train_and_sample(config, str(digits_file), lambda *a: reports.append(a))
    assert reports == []
