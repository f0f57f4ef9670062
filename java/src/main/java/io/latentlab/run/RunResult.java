package io.latentlab.run;

import io.latentlab.config.ReadOnlyJson;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a run produced.
 *
 * @param directory the run directory
 * @param result the content of its {@code result.json}, read-only: {@code experiment},
 *     {@code trial_id}, {@code status}, {@code metrics}, {@code sample_labels},
 *     {@code latents_zero_copy}, {@code outputs} (file name → SHA-256)
 * @param reused true if the trial had already completed and nothing was run
 */
public record RunResult(Path directory, Map<String, Object> result, boolean reused) {
  /** Makes {@code result} a read-only copy. */
  public RunResult {
    result = ReadOnlyJson.map(result);
  }

  /** The run's metrics (losses, PSNR, stage timings in {@code *_seconds}), by name. */
  @SuppressWarnings("unchecked")
  public Map<String, Object> metrics() {
    Object metrics = result.get("metrics");
    return metrics instanceof Map<?, ?> map ? (Map<String, Object>) map : Map.of();
  }
}
