"""A run in an MLflow tracking server, when one is asked for.

The server is named by the config's ``tracking.mlflow`` or, if that is absent, MLflow's own
``MLFLOW_TRACKING_URI``. Credentials come only from MLflow's environment variables
(``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``MLFLOW_TRACKING_TOKEN``): what this module writes
down (``mlflow.json``, warnings) holds the address without any user part.

A run is logged in three moves, each keyed on its run directory:

- :func:`start` (Java, as the run directory is created): the MLflow run, named by the trial id,
  with the resolved config flattened to dotted parameters and the tags ``latentlab.trial``,
  ``latentlab.experiment``, ``latentlab.sweep``, the git commit and dirty flag; for a sweep's
  trial, ``mlflow.parentRunId`` is the sweep's run (:func:`start_sweep`). It writes
  ``<run>/mlflow.json``: the address, experiment and run id (the store reads the run id).
- :class:`LiveLog` (Python, process 0, as the run trains): the losses and gradient norms at each
  progress report.
- :func:`finish` (Java, once the run's files exist): whatever per-step metric the server lacks
  (read from ``metrics.jsonl``), the final metrics of ``result.json``, the artifacts
  (``samples.png``, ``result.json``, ``config.yaml``, ``provenance.json``), and the run ended.

Tracking never costs a result: the first error (server down, refusing, too slow) is one warning
naming the server and the cause; ``mlflow.json`` then says ``unsent`` and nothing more is tried
in that run. ``./latentlab track sync`` (:func:`sync`) sends a run afterwards, filling what the
server lacks, so it can be repeated. The trial id, not MLflow's run id, is a run's identity.
"""

import json
import math
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

FILE = "mlflow.json"
OPEN, FINISHED, UNSENT = "open", "finished", "unsent"
ARTIFACTS = ("samples.png", "result.json", "config.yaml", "provenance.json")
# MLflow retries a failing request 7 times with exponential back-off and waits 120 s for an
# answer: minutes of stall for a server that is down. Unless the user set them, a run waits
# at most about 10 s before it gives up and goes on.
REQUEST_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
# Metric values and params MLflow takes in one request (its documented batch limits).
METRICS_PER_BATCH = 1000
PARAMS_PER_BATCH = 100
PARAM_VALUE_LIMIT = 6000


def tracking_uri(configured: str | None) -> str | None:
    """The server a run logs to: the config's ``tracking.mlflow``, else ``MLFLOW_TRACKING_URI``,
    else None (no MLflow)."""
    chosen = (configured or os.environ.get("MLFLOW_TRACKING_URI") or "").strip()
    return chosen or None


def public_uri(uri: str) -> str:
    """``uri`` without a user name or password, for what is written down or printed."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow parameters: dotted keys, values as strings (lists as JSON)."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            flat[name] = text[:PARAM_VALUE_LIMIT]
    return flat


def _client(uri: str):
    for name, value in REQUEST_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=uri)


def _cause(e: BaseException) -> str:
    """What went wrong, in a few words: the connection's failure or the server's HTTP status
    where MLflow's message holds one, else its first line."""
    text = str(e)
    for needle, said in (("Connection refused", "connection refused"),
                         ("Name or service not known", "unknown host"),
                         ("timed out", "no answer within the timeout"),
                         ("Max retries exceeded", "cannot connect")):
        if needle in text:
            return said
    status = re.search(r"error code (\d{3})", text)
    if status:
        return f"HTTP {status.group(1)}"
    line = (text.strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {line[:200]}"


def _warn(uri: str, e: BaseException, run_dir: Path | None) -> str:
    where = f"'./latentlab track sync {run_dir}'" if run_dir else "'./latentlab track sync'"
    cause = _cause(e)
    parts = urlsplit(uri)
    for secret in (uri, parts.password, parts.username):
        if secret:  # never in a log: an error may quote the address it was given
            cause = cause.replace(secret, public_uri(uri) if secret == uri else "***")
    message = (f"MLflow at {public_uri(uri)}: {cause}; the run goes on without it, "
               f"{where} sends it afterwards")
    print(f"latentlab: warning: {message}", file=sys.stderr, flush=True)
    return message


def _uri_of(state: dict, configured: str | None) -> str:
    """The address to reach a recorded run's server: the one asked for now if it is that
    server (it may carry credentials the record leaves out), else the recorded one."""
    asked = tracking_uri(configured)
    return asked if asked and public_uri(asked) == state["uri"] else state["uri"]


def read_state(folder: str | Path) -> dict:
    """``<folder>/mlflow.json``, or {} if there is none."""
    path = Path(folder) / FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_state(folder: Path, state: dict) -> None:
    path = folder / FILE
    temporary = path.with_name(f".{FILE}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def _experiment_id(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another process created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _tags(run_dir: Path, cfg: dict, trial: str, sweep: str | None,
          parent: str | None) -> dict[str, str]:
    tags = {"latentlab.trial": trial, "latentlab.experiment": cfg.get("name", "")}
    provenance = run_dir / "provenance.json"
    if provenance.is_file():
        git = json.loads(provenance.read_text()).get("git") or {}
        if git.get("commit"):
            tags["mlflow.source.git.commit"] = git["commit"]
            tags["latentlab.git_commit"] = git["commit"]
        tags["latentlab.git_dirty"] = str(bool(git.get("dirty"))).lower()
    if sweep:
        tags["latentlab.sweep"] = sweep
    if parent:
        tags["mlflow.parentRunId"] = parent
    return tags


def _open_run(client, run_dir: Path, cfg: dict, trial: str, sweep: str | None,
              parent: str | None, known: str | None) -> tuple[str, str]:
    """The run's (experiment id, run id): ``known`` if the server has it, else a new run; its
    parameters and tags logged either way (the same values again are accepted)."""
    from mlflow.entities import Param, RunTag
    run_id = experiment_id = None
    if known:
        try:
            run = client.get_run(known)
            if run.info.lifecycle_stage != "deleted":
                run_id, experiment_id = known, run.info.experiment_id
        except Exception as e:  # not on this server (another one, or its data was reset)
            if "RESOURCE_DOES_NOT_EXIST" not in str(e) and "not found" not in str(e).lower():
                raise
    if run_id is None:
        experiment_id = _experiment_id(client, cfg.get("name", "latentlab"))
        run_id = client.create_run(experiment_id, run_name=trial).info.run_id
    tags = [RunTag(k, v) for k, v in _tags(run_dir, cfg, trial, sweep, parent).items()]
    client.log_batch(run_id, tags=tags)
    params = [Param(k, v) for k, v in sorted(flatten(cfg).items())]
    for i in range(0, len(params), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[i:i + PARAMS_PER_BATCH])
    return experiment_id, run_id


def start(run_dir: str, config_json: str, trial: str, configured: str | None,
          parent: str | None = None, sweep: str | None = None) -> dict:
    """Opens the run's MLflow run if a server is asked for (see the module's docstring) and
    records it in ``<run>/mlflow.json``. Returns that record ({} without a server); a failure is
    recorded ``unsent`` with its cause, warned once, never raised."""
    uri = tracking_uri(configured)
    if uri is None:
        return {}
    folder = Path(run_dir)
    earlier = read_state(folder)
    state = {"uri": public_uri(uri), "trial": trial, "parent_run_id": parent, "sweep": sweep}
    try:
        client = _client(uri)
        known = earlier.get("run_id") if earlier.get("uri") == public_uri(uri) else None
        state["experiment_id"], state["run_id"] = _open_run(
            client, folder, json.loads(config_json), trial, sweep, parent, known)
        state["state"] = OPEN
    except Exception as e:  # noqa: BLE001 - tracking never fails a run
        state.update(state=UNSENT, error=_warn(uri, e, folder))
    _write_state(folder, state)
    return state


class LiveLog:
    """Sends a run's losses and gradient norms as it trains, if :func:`start` opened an MLflow
    run for it. Steps at or before ``resumed`` (replayed from a checkpoint) are left to
    :func:`finish` (which has their losses; their gradient norms are TensorBoard's only)."""

    def __init__(self, run_dir: str | Path, configured: str | None, resumed: dict[str, int]):
        self.folder = Path(run_dir)
        self.state = read_state(self.folder)
        self.resumed = dict(resumed)
        self.client = None
        if self.state.get("state") == OPEN:
            self.uri = _uri_of(self.state, configured)
            self.client = _client(self.uri)

    @property
    def active(self) -> bool:
        return self.client is not None

    def report(self, stage: str, step: int, loss: float) -> None:
        if stage in ("vae", "unet") and not math.isnan(loss):
            self.measure(stage, step, {"loss": loss})

    def measure(self, stage: str, step: int, values: dict[str, float]) -> None:
        """A reported step's measurements (``grad_norm``), as ``<stage>/<name>``."""
        if self.client is None or not values or step <= self.resumed.get(stage, 0):
            return
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        try:
            self.client.log_batch(self.state["run_id"], metrics=[
                Metric(f"{stage}/{name}", value, now, step) for name, value in values.items()])
        except Exception as e:  # noqa: BLE001 - tracking never fails a run
            self.client = None
            self.state.update(state=UNSENT, error=_warn(self.uri, e, self.folder))
            _write_state(self.folder, self.state)

    def wrap(self, progress):
        """``progress``, sending each report too."""
        def both(stage, step, total, loss):
            progress(stage, step, total, loss)
            self.report(stage, int(step), float(loss))
        return both


def _metric_points(run_dir: Path) -> dict[str, dict[int, float]]:
    """The per-step losses of ``metrics.jsonl`` by MLflow key (a resumed run's replayed
    reports appear twice there; the last value of a step wins, and they are equal)."""
    points: dict[str, dict[int, float]] = {}
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                points.setdefault(f"{row['stage']}/loss", {})[int(row["step"])] = float(row["loss"])
    return points


def _final_metrics(run_dir: Path) -> dict[str, float]:
    path = run_dir / "result.json"
    if not path.is_file():
        return {}
    metrics = json.loads(path.read_text()).get("metrics") or {}
    return {name: float(value) for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(float(value))}


def _fill(client, run_id: str, run_dir: Path) -> int:
    """Sends what the server lacks of the run's files; returns how many metric values."""
    from mlflow.entities import Metric
    now = int(time.time() * 1000)
    missing = []
    for key, steps in _metric_points(run_dir).items():
        logged = {m.step for m in client.get_metric_history(run_id, key)}
        missing += [Metric(key, value, now, step) for step, value in sorted(steps.items())
                    if step not in logged]
    have = client.get_run(run_id).data.metrics
    missing += [Metric(name, value, now, 0) for name, value in _final_metrics(run_dir).items()
                if have.get(name) != value]
    for i in range(0, len(missing), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=missing[i:i + METRICS_PER_BATCH])
    for name in ARTIFACTS:
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    return len(missing)


def finish(run_dir: str, configured: str | None, status: str = "FINISHED") -> dict:
    """Ends the run's MLflow run (``FINISHED``, ``FAILED`` or ``KILLED``), first sending what
    the server lacks of its files, if :func:`start` opened it and nothing has failed since."""
    folder = Path(run_dir)
    state = read_state(folder)
    if state.get("state") != OPEN:
        return state
    uri = _uri_of(state, configured)
    try:
        client = _client(uri)
        state["metrics_sent_at_end"] = _fill(client, state["run_id"], folder)
        client.set_terminated(state["run_id"], status)
        state["state"] = FINISHED if status == "FINISHED" else status.lower()
    except Exception as e:  # noqa: BLE001 - tracking never fails a run
        state.update(state=UNSENT, error=_warn(uri, e, folder))
    _write_state(folder, state)
    return state


def sync(run_dir: str, config_json: str, trial: str, configured: str | None,
         parent: str | None = None, sweep: str | None = None) -> dict:
    """Sends a run that ended (``./latentlab track sync``): its MLflow run is the one recorded
    if the server has it, else a new one; then everything the server lacks. Repeating it sends
    nothing twice. Raises (one line) when the server cannot be reached: it is what was asked."""
    uri = tracking_uri(configured) or read_state(run_dir).get("uri")
    if uri is None:
        raise ValueError("no MLflow server: give --mlflow URI, set MLFLOW_TRACKING_URI, or "
                         "set tracking.mlflow in the config")
    folder = Path(run_dir)
    earlier = read_state(folder)
    client = _client(uri)
    known = earlier.get("run_id") if earlier.get("uri") == public_uri(uri) else None
    parent = parent or earlier.get("parent_run_id")
    sweep = sweep or earlier.get("sweep")
    experiment_id, run_id = _open_run(client, folder, json.loads(config_json), trial, sweep,
                                      parent, known)
    sent = _fill(client, run_id, folder)
    provenance = json.loads((folder / "provenance.json").read_text()) \
        if (folder / "provenance.json").is_file() else {}
    ended = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
    status = ended.get(provenance.get("status"))
    if status:
        client.set_terminated(run_id, status)
    state = {"uri": public_uri(uri), "trial": trial, "parent_run_id": parent, "sweep": sweep,
             "experiment_id": experiment_id, "run_id": run_id,
             "state": FINISHED if status == "FINISHED" else OPEN if status is None
             else status.lower(), "metrics_sent_at_end": sent}
    _write_state(folder, state)
    return state


def start_sweep(sweep_dir: str, experiment: str, sweep: str, configured: str | None) -> dict:
    """The sweep's own MLflow run, the parent of its trials' runs (``<sweep>/mlflow.json``);
    reused when the sweep runs again. {} without a server; a failure warns once and is
    recorded ``unsent`` (the trials then log without a parent; ``track sync --sweep`` links
    them afterwards)."""
    uri = tracking_uri(configured)
    if uri is None:
        return {}
    folder = Path(sweep_dir)
    earlier = read_state(folder)
    state = {"uri": public_uri(uri), "sweep": sweep}
    try:
        state.update(_open_sweep(_client(uri), experiment, sweep,
                                 earlier.get("run_id") if earlier.get("uri") == public_uri(uri)
                                 else None))
    except Exception as e:  # noqa: BLE001 - tracking never fails a sweep
        state.update(state=UNSENT, error=_warn(uri, e, None))
    _write_state(folder, state)
    return state


def _open_sweep(client, experiment: str, sweep: str, known: str | None) -> dict:
    from mlflow.entities import RunTag
    if known:
        try:
            if client.get_run(known).info.lifecycle_stage != "deleted":
                return {"run_id": known, "state": OPEN,
                        "experiment_id": client.get_run(known).info.experiment_id}
        except Exception as e:
            if "RESOURCE_DOES_NOT_EXIST" not in str(e) and "not found" not in str(e).lower():
                raise
    experiment_id = _experiment_id(client, experiment)
    run_id = client.create_run(experiment_id, run_name=f"sweep {sweep}").info.run_id
    client.log_batch(run_id, tags=[RunTag("latentlab.sweep", sweep),
                                   RunTag("latentlab.role", "sweep")])
    return {"run_id": run_id, "experiment_id": experiment_id, "state": OPEN}


def finish_sweep(sweep_dir: str, configured: str | None, failed: bool) -> dict:
    """Ends the sweep's run (``FINISHED``, or ``FAILED`` if a trial failed) with its
    ``results.csv`` and report as artifacts."""
    folder = Path(sweep_dir)
    state = read_state(folder)
    if state.get("state") != OPEN:
        return state
    uri = _uri_of(state, configured)
    try:
        client = _client(uri)
        for name in ("results.csv", "report.md"):
            if (folder / name).is_file():
                client.log_artifact(state["run_id"], str(folder / name))
        client.set_terminated(state["run_id"], "FAILED" if failed else "FINISHED")
    except Exception as e:  # noqa: BLE001 - tracking never fails a sweep
        state.update(state=UNSENT, error=_warn(uri, e, None))
    _write_state(folder, state)
    return state
