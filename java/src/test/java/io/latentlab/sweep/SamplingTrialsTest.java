package io.latentlab.sweep;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.bridge.PythonConstants;
import io.latentlab.config.SampleConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The η of a sampling trial over a run whose config resolved η for its own sampler. */
class SamplingTrialsTest {
  /** The default η of the samplers that have one, as Python's samplers.default_eta gives them. */
  private static final PythonConstants NAMES = new PythonConstants(
      List.of("ddim", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde"), List.of("karras"), "karras",
      7.0, List.of("linear"), List.of("uniform"), "ext", "ext-bf16", List.of("float32"), List.of("float32"),
      "float32", Map.of("ddim", 0.0, "euler_ancestral", 1.0, "dpmpp_2m_sde", 1.0));

  /** The sample section as the run recorded it, with the sweep's sampler override applied. */
  private static SampleConfig sample(String sampler, double eta) {
    return new SampleConfig(sampler, 20, eta, 64, 3.0, "karras", 7.0);
  }

  @Test
  void eta_aSamplerOverriddenWithoutEta_getsItsOwnDefault() {
    assertEquals(1.0, SamplingTrials.eta(sample("euler_ancestral", 0.0),
        List.of("sample.sampler=\"euler_ancestral\"", "sample.steps=20"), NAMES));
    assertEquals(0.0, SamplingTrials.eta(sample("ddim", 0.0), List.of("sample.sampler=\"ddim\""), NAMES));
  }

  @Test
  void eta_setByTheSweep_orASamplerWithoutEta_orNoSamplerOverride_isKept() {
    assertEquals(0.3, SamplingTrials.eta(sample("euler_ancestral", 0.3),
        List.of("sample.sampler=\"euler_ancestral\"", "sample.eta=0.3"), NAMES));
    assertEquals(0.0, SamplingTrials.eta(sample("euler", 0.0), List.of("sample.sampler=\"euler\""), NAMES));
    assertEquals(0.5, SamplingTrials.eta(sample("dpmpp_2m_sde", 0.5), List.of("sample.steps=10"), NAMES),
        "the run's own sampler keeps the run's η");
  }
}
