package io.latentlab.config;

import static io.latentlab.config.Checks.orDefault;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * One experiment: what to train on, how, and how to sample. Loaded by {@link ConfigLoader};
 * missing sections and keys take the defaults documented on each record.
 *
 * @param name the experiment's name; names its folder under {@code runs/}, so lower-case
 *     letters, digits, '-' and '_' only
 * @param seed the root of all randomness in the run (split by purpose in Python)
 * @param data which data set and how much of it is held out
 * @param model the model sections ({@code vae}, {@code unet}); their schema is the Flax
 *     modules' fields, so Java keeps them opaque (a read-only JSON-shaped map) and has Python
 *     validate and fill them
 * @param diffusion the noise schedule
 * @param train the two training stages
 * @param sample how samples are drawn at the end of the run
 * @param execution devices, mesh and precision; only the precision enters the trial id (see
 *     {@link ExecutionConfig#identity()})
 * @param tracking where the run is tracked besides its directory (an MLflow server), or null;
 *     not in the trial id (see {@link TrackingConfig})
 * @param format the layout version of the file it was read from, always
 *     {@link ConfigFormat#CURRENT} once loaded (older files are migrated); not part of the trial id
 */
public record ExperimentConfig(
    String name,
    Long seed,
    DataConfig data,
    Map<String, Object> model,
    DiffusionConfig diffusion,
    TrainConfig train,
    SampleConfig sample,
    ExecutionConfig execution,
    @JsonInclude(JsonInclude.Include.NON_NULL) TrackingConfig tracking,
    Integer format) {

  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");

  /** Fills defaults and checks the name. */
  public ExperimentConfig {
    if (name == null) {
      throw new IllegalArgumentException("name: required key is missing; add e.g. 'name: my-experiment'");
    }
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(String.format(
          "name: '%s' is not allowed; use 1-64 lower-case letters, digits, '-' or '_'", name));
    }
    seed = orDefault(seed, 0L);
    data = orDefault(data, DataConfig.defaults());
    model = ReadOnlyJson.map(orDefault(model, Map.of()));
    diffusion = orDefault(diffusion, DiffusionConfig.defaults());
    train = orDefault(train, TrainConfig.defaults());
    sample = orDefault(sample, SampleConfig.defaults());
    execution = orDefault(execution, ExecutionConfig.defaults());
    format = orDefault(format, ConfigFormat.CURRENT);
    if (format != ConfigFormat.CURRENT) {
      throw new IllegalArgumentException("format: must be " + ConfigFormat.CURRENT
          + " once loaded; read older configs through ConfigLoader, which migrates them");
    }
  }
}
