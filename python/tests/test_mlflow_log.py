"""latentlab.mlflow_log against a real MLflow server (SQLite backend, local artifacts, a free
port), read back with MLflow's own client: a run's parameters, per-step and final metrics,
artifacts and tags; the server stopped mid-run (the run goes on, one warning, ``sync`` fills it
afterwards); a sweep's parent and child runs; credentials kept out of what is written down."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from latentlab import mlflow_log

CONFIG = {"name": "tiny-mlflow", "seed": 3, "train": {"unet": {"steps": 4, "learning_rate": 0.001}},
          "model": {"unet": {"channels": [8, 16]}}, "sample": {"sampler": "ddim"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``mlflow server`` in a process of its own; stopped and started again on the same port
    and database."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        log = open(self.folder / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError("mlflow server did not answer within 120 s")

    def stop(self):
        os.killpg(self.process.pid, 15)
        self.process.wait(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("mlflow-server"))
    running.start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def no_environment_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _run_dir(folder: Path, trial: str) -> Path:
    """The files a completed run leaves (as Java writes them), losses at steps 1..6."""
    run = folder / trial
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: tiny-mlflow\n")
    (run / "samples.png").write_bytes(b"\x89PNG\r\n\x1a\n-not-decoded-here")
    (run / "provenance.json").write_text(json.dumps(
        {"git": {"commit": "0123456789abcdef", "dirty": True}, "status": "completed"}))
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"stage": "unet", "step": step, "loss": 1.0 / step}) + "\n"
        for step in range(1, 7)))
    (run / "result.json").write_text(json.dumps(
        {"metrics": {"unet_final_loss": 0.125, "vae_heldout_psnr_db": 17.5, "note": "text"}}))
    return run


def _client(uri):
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=uri)


def test_a_run_its_params_metrics_artifacts_and_tags(server, tmp_path):
    run = _run_dir(tmp_path, "a1b2c3d4e5f6")
    state = mlflow_log.start(str(run), json.dumps(CONFIG), "a1b2c3d4e5f6", server.uri)
    assert state["state"] == mlflow_log.OPEN
    live = mlflow_log.LiveLog(run, server.uri, {"unet": 0})
    assert live.active
    reports = []
    progress = live.wrap(lambda *report: reports.append(report))
    for step in (1, 2, 3):
        progress("unet", step, 6, 1.0 / step)
        live.measure("unet", step, {"grad_norm": 10.0 * step})  # what the run's step hook sends
    progress("sample", 0, 2, float("nan"))  # no loss: not a metric
    assert len(reports) == 4  # the wrapped progress still sees every report
    ended = mlflow_log.finish(str(run), server.uri)
    assert ended["state"] == mlflow_log.FINISHED
    assert ended["metrics_sent_at_end"] == 3 + 2  # steps 4..6, and the two numeric finals

    client = _client(server.uri)
    got = client.get_run(state["run_id"])
    assert got.info.run_name == "a1b2c3d4e5f6"
    assert got.info.status == "FINISHED"
    assert got.data.params["train.unet.steps"] == "4"
    assert got.data.params["model.unet.channels"] == "[8, 16]"
    assert got.data.params["sample.sampler"] == "ddim"
    assert got.data.tags["latentlab.trial"] == "a1b2c3d4e5f6"
    assert got.data.tags["mlflow.source.git.commit"] == "0123456789abcdef"
    assert got.data.tags["latentlab.git_dirty"] == "true"
    assert "mlflow.parentRunId" not in got.data.tags
    history = client.get_metric_history(state["run_id"], "unet/loss")
    assert sorted((m.step, m.value) for m in history) == [(s, 1.0 / s) for s in range(1, 7)]
    norms = client.get_metric_history(state["run_id"], "unet/grad_norm")
    assert sorted((m.step, m.value) for m in norms) == [(1, 10.0), (2, 20.0), (3, 30.0)]
    assert got.data.metrics["unet_final_loss"] == 0.125
    assert got.data.metrics["vae_heldout_psnr_db"] == 17.5
    assert "note" not in got.data.metrics
    artifacts = {a.path for a in client.list_artifacts(state["run_id"])}
    assert artifacts == {"samples.png", "result.json", "config.yaml", "provenance.json"}
    assert mlflow_log.read_state(run)["run_id"] == state["run_id"]

    # Syncing again sends nothing twice and keeps the run.
    again = mlflow_log.sync(str(run), json.dumps(CONFIG), "a1b2c3d4e5f6", server.uri)
    assert again["run_id"] == state["run_id"] and again["metrics_sent_at_end"] == 0
    assert len(client.get_metric_history(state["run_id"], "unet/loss")) == 6


def test_the_server_stopped_mid_run_warns_once_then_sync_fills_it(server, tmp_path, capsys):
    run = _run_dir(tmp_path, "0f0f0f0f0f0f")
    state = mlflow_log.start(str(run), json.dumps(CONFIG), "0f0f0f0f0f0f", server.uri)
    live = mlflow_log.LiveLog(run, server.uri, {})
    progress = live.wrap(lambda *report: None)
    progress("unet", 1, 6, 1.0)
    server.stop()
    try:
        started = time.monotonic()
        for step in range(2, 7):
            progress("unet", step, 6, 1.0 / step)
        ended = mlflow_log.finish(str(run), server.uri)
        waited = time.monotonic() - started
        warnings = [line for line in capsys.readouterr().err.splitlines() if "MLflow at" in line]
        assert len(warnings) == 1, warnings
        assert server.uri in warnings[0] and "track sync" in warnings[0]
        assert ended["state"] == mlflow_log.UNSENT and "MLflow at" in ended["error"]
        assert not live.active  # nothing more is tried in this run
        # Bounded by the request defaults (one retry, 5 s timeout), not MLflow's minutes.
        assert waited < 60, waited
    finally:
        server.start()
    synced = mlflow_log.sync(str(run), json.dumps(CONFIG), "0f0f0f0f0f0f", None)
    assert synced["run_id"] == state["run_id"]  # the run opened before the server went down
    client = _client(server.uri)
    got = client.get_run(state["run_id"])
    assert got.info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(state["run_id"], "unet/loss")) \
        == list(range(1, 7))
    assert {a.path for a in client.list_artifacts(state["run_id"])} >= {"samples.png"}


def test_a_server_that_is_not_there_costs_one_warning_and_no_result(tmp_path, capsys):
    run = _run_dir(tmp_path, "dead00000000")
    uri = f"http://127.0.0.1:{_free_port()}"
    state = mlflow_log.start(str(run), json.dumps(CONFIG), "dead00000000", uri)
    assert state["state"] == mlflow_log.UNSENT
    assert not mlflow_log.LiveLog(run, uri, {}).active
    assert mlflow_log.finish(str(run), uri)["state"] == mlflow_log.UNSENT
    assert len([line for line in capsys.readouterr().err.splitlines() if "MLflow at" in line]) == 1


def test_a_sweep_is_the_parent_of_its_trials(server, tmp_path):
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    parent = mlflow_log.start_sweep(str(sweep_dir), "tiny-mlflow", "lr-grid", server.uri)
    assert parent["state"] == mlflow_log.OPEN
    children = []
    for trial in ("111111111111", "222222222222"):
        run = _run_dir(tmp_path, trial)
        children.append(mlflow_log.start(str(run), json.dumps(CONFIG), trial, server.uri,
                                         parent["run_id"], "lr-grid")["run_id"])
        mlflow_log.finish(str(run), server.uri)
    (sweep_dir / "results.csv").write_text("trial,loss\n")
    assert mlflow_log.finish_sweep(str(sweep_dir), server.uri, False)["run_id"] == parent["run_id"]
    client = _client(server.uri)
    for child in children:
        tags = client.get_run(child).data.tags
        assert tags["mlflow.parentRunId"] == parent["run_id"]
        assert tags["latentlab.sweep"] == "lr-grid"
    top = client.get_run(parent["run_id"])
    assert top.data.tags["latentlab.role"] == "sweep" and top.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent["run_id"])} == {"results.csv"}
    # The sweep run again reuses its run.
    assert mlflow_log.start_sweep(str(sweep_dir), "tiny-mlflow", "lr-grid",
                                  server.uri)["run_id"] == parent["run_id"]


def test_credentials_are_never_written_down(monkeypatch, tmp_path):
    assert mlflow_log.public_uri("https://ann:s3cret@mlflow.example.org:5000/x") \
        == "https://mlflow.example.org:5000/x"
    assert mlflow_log.public_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ann:s3cret@127.0.0.1:{_free_port()}")
    run = _run_dir(tmp_path, "c0ffee000000")
    state = mlflow_log.start(str(run), json.dumps(CONFIG), "c0ffee000000", None)
    assert state["state"] == mlflow_log.UNSENT
    written = (run / mlflow_log.FILE).read_text()
    assert "s3cret" not in written and "ann" not in written
    assert "s3cret" not in state["error"]


def test_no_server_asked_for_writes_nothing(tmp_path):
    run = _run_dir(tmp_path, "000000000001")
    assert mlflow_log.start(str(run), json.dumps(CONFIG), "000000000001", None) == {}
    assert not (run / mlflow_log.FILE).exists()
    assert not mlflow_log.LiveLog(run, None, {}).active
    with pytest.raises(ValueError, match="no MLflow server"):
        mlflow_log.sync(str(run), json.dumps(CONFIG), "000000000001", None)


def test_a_refusal_is_said_in_a_few_words():
    refused = Exception("API request to endpoint /api/2.0/mlflow/runs/create failed with error "
                        "code 403 != 200. Response body: 'Permission denied'")
    assert mlflow_log._cause(refused) == "HTTP 403"
    assert mlflow_log._cause(Exception("... [Errno 111] Connection refused")) == "connection refused"
    assert mlflow_log._cause(ValueError("odd\nsecond line")) == "ValueError: odd"
