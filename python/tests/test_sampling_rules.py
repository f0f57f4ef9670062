"""The rules of a sampling request (:func:`latentlab.sampling.resolve_sampling`): which value
each option of a request derived from a run gets, and the ranges checked. Pure Python: no
model is built."""

import math

import pytest

from latentlab import config as config_lib
from latentlab import sampling
from latentlab.diffusion import samplers, schedules

# A run's recorded sample section, as Java writes it to config.yaml (η resolved).
RECORDED = {"sampler": "ddim", "steps": 20, "eta": 0.3, "guidance_scale": 3.0,
            "spacing": "karras", "rho": 7.0, "num_samples": 64}


def test_no_override_keeps_every_recorded_value():
    assert sampling.resolve_sampling(RECORDED, {}) == RECORDED


def test_the_same_sampler_keeps_the_recorded_eta():
    assert sampling.resolve_sampling(RECORDED, {"sampler": "ddim", "steps": 50}) == {
        **RECORDED, "steps": 50}


@pytest.mark.parametrize("name", [s.name for s in samplers.REGISTRY.values() if s.eta is not None])
def test_a_new_sampler_with_an_eta_gets_its_own(name):
    recorded = {**RECORDED, "sampler": "dpmpp_2m_sde" if name != "dpmpp_2m_sde" else "ddim"}
    resolved = sampling.resolve_sampling(recorded, {"sampler": name})
    assert resolved["eta"] == samplers.default_eta(name)
    # the value config resolution gives a config naming this sampler and no η
    assert resolved["eta"] == config_lib.resolve({"sample": {"sampler": name}})["sample"]["eta"]


@pytest.mark.parametrize("name", [s.name for s in samplers.REGISTRY.values() if s.eta is None])
def test_a_new_sampler_without_an_eta_keeps_the_recorded_value(name):
    # η changes nothing there, and a request that keeps it names the same sweep trial as before
    recorded = {**RECORDED, "sampler": "ddpm", "eta": 1.0}
    assert sampling.resolve_sampling(recorded, {"sampler": name})["eta"] == 1.0


def test_an_explicit_eta_wins_over_both():
    assert sampling.resolve_sampling(RECORDED, {"eta": 0.7})["eta"] == 0.7
    assert sampling.resolve_sampling(RECORDED, {"sampler": "ddpm", "eta": 0.0})["eta"] == 0.0


def test_none_overrides_leave_the_recorded_values():
    overrides = {key: None for key in sampling.SAMPLING_OPTIONS}
    assert sampling.resolve_sampling(RECORDED, overrides) == RECORDED


def test_a_recorded_eta_left_out_is_the_samplers_own():
    recorded = {k: v for k, v in RECORDED.items() if k != "eta"}
    assert sampling.resolve_sampling({**recorded, "sampler": "ddpm"}, {})["eta"] == 1.0


def test_spacing_and_rho_left_out_are_pythons_defaults_and_the_old_name_is_read():
    recorded = {k: v for k, v in RECORDED.items() if k not in ("spacing", "rho")}
    resolved = sampling.resolve_sampling(recorded, {})
    assert (resolved["spacing"], resolved["rho"]) == (schedules.DEFAULT_SPACING,
                                                      schedules.DEFAULT_RHO)
    old = sampling.resolve_sampling({**recorded, "timestep_spacing": "trailing"}, {})
    assert old["spacing"] == "trailing" and "timestep_spacing" not in old


def test_the_recorded_section_is_not_changed():
    recorded = dict(RECORDED)
    sampling.resolve_sampling(recorded, {"sampler": "ddpm"})
    assert recorded == RECORDED


@pytest.mark.parametrize("overrides, message", [
    ({"sampler": "magic"}, r"^sample.sampler: unknown value 'magic'; allowed: ddpm, ddim"),
    ({"eta": 1.5}, r"^sample.eta: must be in \[0.0, 1.0\] or null \(the sampler's own\), "
                   r"got 1.5$"),
    ({"eta": -0.1}, r"^sample.eta: must be in \[0.0, 1.0\]"),
    ({"eta": True}, r"^sample.eta: must be in"),
    ({"guidance_scale": 100.5}, r"^sample.guidance_scale: must be a finite number in "
                                r"\[0.0, 100.0\], got 100.5$"),
    ({"guidance_scale": math.nan}, r"^sample.guidance_scale: must be a finite number"),
    ({"guidance_scale": -1}, r"^sample.guidance_scale: must be"),
    ({"steps": 0}, r"^sample.steps: must be an integer >= 1, got 0$"),
    ({"steps": 2.5}, r"^sample.steps: must be an integer >= 1"),
    ({"spacing": "cosine"}, r"^sample.spacing: unknown value 'cosine'; allowed: "),
    ({"rho": 0}, r"^sample.rho: must be a positive number, got 0$"),
    ({"num_samples": 8}, r"^sample.num_samples: not a sampling option; allowed: sampler, "),
])
def test_bad_names_and_ranges_are_refused_in_one_line(overrides, message):
    with pytest.raises(ValueError, match=message) as failure:
        sampling.resolve_sampling(RECORDED, overrides)
    assert "\n" not in str(failure.value)


def test_a_missing_option_is_named():
    recorded = {k: v for k, v in RECORDED.items() if k != "steps"}
    with pytest.raises(ValueError, match=r"^sample.steps: missing"):
        sampling.resolve_sampling(recorded, {})


def test_the_ranges_are_the_ones_java_checks():
    # Java's SampleConfig checks sample.eta in [0, 1] and sample.guidance_scale in [0, 100];
    # Java's tests compare its copy with constants(), which reports these.
    assert sampling.ETA_RANGE == (0.0, 1.0) and sampling.GUIDANCE_RANGE == (0.0, 100.0)
    constants = config_lib.constants()
    assert constants["eta_range"] == [0.0, 1.0]
    assert constants["guidance_range"] == [0.0, 100.0]


def test_config_resolution_applies_the_same_rules():
    assert config_lib.resolve({"sample": {"sampler": "ddpm"}})["sample"]["eta"] == 1.0
    assert config_lib.resolve({"sample": {"sampler": "ddpm", "eta": 0.2}})["sample"]["eta"] == 0.2
    with pytest.raises(ValueError, match=r"^sample.eta: must be in \[0.0, 1.0\]"):
        config_lib.resolve({"sample": {"sampler": "ddim", "eta": 3.0}})
    with pytest.raises(ValueError, match=r"^sample.guidance_scale: must be"):
        config_lib.resolve({"sample": {"sampler": "ddim", "guidance_scale": 1000.0}})


def test_every_sampler_record_is_consistent():
    for name, record in samplers.REGISTRY.items():
        assert record.name == name and samplers.get_step(name) is record.step
        assert (name in samplers.USES_ETA) == (record.eta is not None)
        if record.eta is not None:
            assert sampling.ETA_RANGE[0] <= record.eta <= sampling.ETA_RANGE[1]
    assert samplers.evaluations("heun", 10) == 19 and samplers.evaluations("ddim", 10) == 10
