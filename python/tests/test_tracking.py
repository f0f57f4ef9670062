"""TensorBoard events of a run (latentlab.tracking), read back with TensorBoard's own reader:
the right tags, steps and values, the sample grid, the config, the HParams; a resumed run
writes each step once."""

import copy
import math

import numpy as np
import pytest
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
