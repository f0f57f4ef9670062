package io.latentlab.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.latentlab.bridge.PythonBridge;
import io.latentlab.config.SampleConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The settings a sampling request derived from a run gets (evaluate's options, a sampling
 * sweep's overrides, the JShell sampler builder), decided by Python's one rule
 * ({@code latentlab.sampling.resolve_sampling}): an option given wins; else the run's recorded
 * value; η left out for another sampler that has an η is that sampler's own. Java keeps no copy
 * of the rule.
 *
 * @param sampler the sampler's name
 * @param steps denoising steps
 * @param eta the η sampled with
 * @param guidanceScale classifier-free guidance w
 * @param spacing the σ grid
 * @param rho ρ of the Karras and polyexponential grids
 */
public record SamplingRule(String sampler, int steps, double eta, double guidanceScale, String spacing,
    double rho) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Resolves a request against a run's recorded sample section.
   *
   * @param recorded the run's {@code sample} section (its η is the one the run used)
   * @param sampler the requested sampler, or null for the run's
   * @param steps requested steps, or null
   * @param eta requested η, or null (see the rule above)
   * @param guidanceScale requested guidance, or null
   * @param spacing requested σ grid, or null
   * @throws io.latentlab.bridge.PythonException a {@code ValueError} naming the option for an
   *     unknown name or an out-of-range value
   */
  public static SamplingRule resolve(PythonBridge bridge, SampleConfig recorded, String sampler,
      Integer steps, Double eta, Double guidanceScale, String spacing) {
    Map<String, Object> section = new LinkedHashMap<>();
    section.put("sampler", recorded.sampler());
    section.put("steps", recorded.steps());
    section.put("eta", recorded.eta());
    section.put("guidance_scale", recorded.guidanceScale());
    section.put("spacing", recorded.spacing());
    section.put("rho", recorded.rho());
    Map<String, Object> overrides = new LinkedHashMap<>();
    overrides.put("sampler", sampler);
    overrides.put("steps", steps);
    overrides.put("eta", eta);
    overrides.put("guidance_scale", guidanceScale);
    overrides.put("spacing", spacing);
    try {
      JsonNode resolved = JSON.readTree(bridge.callForString("resolve_sampling",
          JSON.writeValueAsString(section), JSON.writeValueAsString(overrides)));
      return new SamplingRule(resolved.get("sampler").asText(), resolved.get("steps").asInt(),
          resolved.get("eta").asDouble(), resolved.get("guidance_scale").asDouble(),
          resolved.get("spacing").asText(), resolved.get("rho").asDouble());
    } catch (IOException e) {
      throw new UncheckedIOException("Python's resolve_sampling returned malformed JSON", e);
    }
  }
}
