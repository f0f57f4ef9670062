"""TensorBoard events of a run (latentlab.tracking), read back with TensorBoard's own reader:
the right tags, steps and values, the sample grid, the config, the HParams; a resumed run
writes each step once."""

import copy
import io
import math

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from latentlab import tracking
from latentlab.train import ldm, loops
from test_streaming import RGB, tiny_source

REPORT_EVERY = 2  # instead of loops.REPORT_EVERY (25): two reports per stage in 4 steps
STEPS = 2 * REPORT_EVERY


@pytest.fixture(autouse=True)
def _frequent_reports(monkeypatch):
    monkeypatch.setattr(loops, "REPORT_EVERY", REPORT_EVERY)


def _config(**execution) -> dict:
    cfg = copy.deepcopy(RGB)
    cfg["train"]["vae"]["steps"] = cfg["train"]["unet"]["steps"] = STEPS
    cfg["execution"] = execution
    return cfg


def _events(run) -> EventAccumulator:
    events = EventAccumulator(str(run / tracking.FOLDER), size_guidance={"images": 0, "scalars": 0,
                                                                        "tensors": 0})
    events.Reload()
    return events


def test_a_run_writes_its_losses_rates_speed_samples_config_and_hparams(tmp_path):
    reports = []
    result = ldm.train_and_sample(_config(), tiny_source(), lambda *r: reports.append(r),
                                  checkpoint_dir=str(tmp_path / "checkpoint"))
    events = _events(tmp_path)
    tags = events.Tags()
    for stage in ("vae", "unet"):
        losses = events.Scalars(f"{stage}/loss")
        expected = [(step, loss) for s, step, _, loss in reports if s == stage and step > 0]
        assert [e.step for e in losses] == [step for step, _ in expected] == [2, 4]
        # TensorBoard stores float32
        assert [e.value for e in losses] == pytest.approx([loss for _, loss in expected], rel=1e-6)
        rate = loops.learning_rate_at(stage, RGB["train"][stage]["learning_rate"], STEPS)
        assert [e.value for e in events.Scalars(f"{stage}/learning_rate")] == pytest.approx(
            [float(rate(1)), float(rate(3))], rel=1e-6)
        speed = events.Scalars(f"{stage}/steps_per_second")
        assert [e.step for e in speed] == [4] and speed[0].value > 0
        norms = events.Scalars(f"{stage}/grad_norm")
        assert [e.step for e in norms] == [2, 4]
        assert all(e.value > 0 and math.isfinite(e.value) for e in norms)
    assert "previews" not in tags["images"], "no previews unless tracking.previews asks"
    assert "samples" in tags["images"]
    image = events.Images("samples")[0]
    assert image.width > 0 and image.height > 0
    texts = [t for t in tags["tensors"] if t.startswith("config")]
    assert texts, tags
    config_text = events.Tensors(texts[0])[0].tensor_proto.string_val[0].decode()
    assert '"num_timesteps": 100' in config_text
    # HParams: the session's hyperparameters (no experiment summary: TensorBoard infers one
    # across the runs it serves) and its final metrics
    assert "_hparams_/session_start_info" in events.summary_metadata
    assert "_hparams_/experiment" not in events.summary_metadata
    assert any(t.startswith("final/unet_final_loss") for t in tags["scalars"]), tags["scalars"]
    final = events.Scalars(next(t for t in tags["scalars"] if t.startswith("final/unet_final")))
    assert final[0].value == pytest.approx(result.metrics["unet_final_loss"], rel=1e-6)


def test_previews_sample_the_ema_weights_every_n_unet_steps(tmp_path):
    cfg = _config()
    cfg["tracking"] = {"previews": 2}
    result = ldm.train_and_sample(cfg, tiny_source(), checkpoint_dir=str(tmp_path / "checkpoint"))
    previews = _events(tmp_path).Images("previews")
    assert [p.step for p in previews] == [2, 4]
    # The last preview is the EMA weights at the end, sampled as the run samples: its first
    # pictures are the run's first samples (same seed, labels and settings).
    n = min(ldm.PREVIEW_SAMPLES, cfg["sample"]["num_samples"])
    grid = tracking_grid(result.images[:n])
    last = np.asarray(Image.open(io.BytesIO(previews[-1].encoded_image_string)))
    assert last.shape == grid.shape
    assert np.array_equal(last, grid), "the last preview is not the EMA weights' samples"
    assert previews[0].encoded_image_string != previews[-1].encoded_image_string


def tracking_grid(images):
    """The picture TensorBoard stores for ``add_images``: tensorboardX's grid as 8-bit RGB."""
    from tensorboardX.utils import make_grid
    grid = make_grid(np.transpose(np.clip(np.asarray(images, np.float32), 0, 1), (0, 3, 1, 2)))
    return (np.transpose(grid, (1, 2, 0)).astype(np.float32) * 255).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("value", [0, -3, 1.5, "often"])
def test_a_bad_preview_interval_is_one_line_naming_the_key(value):
    with pytest.raises(ValueError, match=r"^tracking\.previews: must be"):
        ldm.previews_every({"tracking": {"previews": value}})


def test_without_a_run_directory_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ldm.train_and_sample(RGB, tiny_source())
    assert not any(tmp_path.rglob("events.out.tfevents.*"))


class Killed(Exception):
    pass


def test_a_resumed_run_writes_each_step_once(tmp_path):
    cfg = _config(checkpoint_every=2)

    def killed_at_the_second_unet_report(stage, step, total, loss):
        if stage == "unet" and step == 4:
            raise Killed()  # after the step-2 save, before the step-4 one

    with pytest.raises(Killed):
        ldm.train_and_sample(cfg, tiny_source(), killed_at_the_second_unet_report,
                             checkpoint_dir=str(tmp_path / "checkpoint"))
    resumed = ldm.train_and_sample(cfg, tiny_source(), checkpoint_dir=str(tmp_path / "checkpoint"))
    assert resumed.metrics["unet_resumed_from_step"] == 2
    events = _events(tmp_path)
    assert len(list((tmp_path / tracking.FOLDER).glob("events.out.tfevents.*"))) >= 2
    for stage in ("vae", "unet"):
        steps = [e.step for e in events.Scalars(f"{stage}/loss")]
        assert steps == [2, 4], (stage, steps)
    assert all(math.isfinite(e.value) for e in events.Scalars("unet/loss"))


def test_flatten_keeps_scalars_by_dotted_key():
    flat = tracking.flatten({"a": {"b": 1, "c": [1, 2], "d": None}, "e": "x", "f": True})
    assert flat == {"a.b": 1, "e": "x", "f": True}
