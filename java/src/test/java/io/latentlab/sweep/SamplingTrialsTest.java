package io.latentlab.sweep;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.SampleConfig;
import io.latentlab.testing.TestProject;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The η of a sampling trial over a run whose config resolved η for its own sampler, decided by
 * Python's rule (the real one, through the JVM's bridge).
 */
class SamplingTrialsTest {
  private final PythonBridge bridge = PythonBridge.start(TestProject.home());

  /** A sample section as a run recorded it. */
  private static SampleConfig sample(String sampler, double eta) {
    return new SampleConfig(sampler, 20, eta, 64, 3.0, "karras", 7.0, null);
  }

  private double eta(SampleConfig recorded, SampleConfig overridden, String... overrides) {
    return SamplingTrials.eta(recorded, overridden, List.of(overrides), bridge);
  }

  @Test
  void eta_aSamplerWithAnEtaOverriddenWithoutEta_getsItsOwnDefault() {
    assertEquals(1.0, eta(sample("dpmpp_2m", 0.0), sample("euler_ancestral", 0.0),
        "sample.sampler=\"euler_ancestral\"", "sample.steps=20"));
    assertEquals(0.0, eta(sample("ddpm", 1.0), sample("ddim", 1.0), "sample.sampler=\"ddim\""));
  }

  @Test
  void eta_setByTheSweep_orASamplerWithoutEta_orNoSamplerOverride_isKept() {
    assertEquals(0.3, eta(sample("dpmpp_2m", 0.0), sample("euler_ancestral", 0.3),
        "sample.sampler=\"euler_ancestral\"", "sample.eta=0.3"));
    assertEquals(1.0, eta(sample("ddpm", 1.0), sample("euler", 1.0), "sample.sampler=\"euler\""),
        "η changes nothing for euler: the request (and the trial id) keep the run's");
    assertEquals(0.5, eta(sample("dpmpp_2m_sde", 0.5), sample("dpmpp_2m_sde", 0.5), "sample.steps=10"),
        "the run's own sampler keeps the run's η");
  }
}
