package io.latentlab.sweep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.config.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Sweep files are read as strictly as configs, and expand as documented. */
class SweepLoaderTest {
  @TempDir Path dir;

  private Path write(String yaml) throws IOException {
    Files.writeString(dir.resolve("base.yaml"), "name: base\n");
    Path file = dir.resolve("sweep.yaml");
    Files.writeString(file, yaml);
    return file;
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', textBlock = """
      unknown top key        | sweep: s\\nrun: abcd\\ngrid: {sample.steps: [1]}\\ngird: {}\\n        | :4:1: gird: unknown key
      name not allowed       | sweep: My Sweep\\nrun: abcd\\ngrid: {sample.steps: [1]}\\n          | :1:1: sweep: 'My Sweep' is not allowed
      run and base           | sweep: s\\nrun: abcd\\nbase: base.yaml\\ngrid: {sample.steps: [1]}\\n | :3:1: base: give one of run:
      neither run nor base   | sweep: s\\ngrid: {sample.steps: [1]}\\n                             | :1:1: sweep: say what to sweep
      empty axis             | sweep: s\\nrun: abcd\\ngrid: {sample.steps: []}\\n                  | :3:8: grid.sample.steps: expected a non-empty list
      axis not a list        | sweep: s\\nrun: abcd\\ngrid: {sample.steps: 5}\\n                   | :3:8: grid.sample.steps: expected a non-empty list
      no axes                | sweep: s\\nrun: abcd\\n                                             | sweep: no axes
      duplicate axis         | sweep: s\\nrun: abcd\\ngrid: {sample.steps: [1]}\\nzip: {sample.steps: [2]}\\n | :4:7: zip.sample.steps: sample.steps is already an axis
      duplicate grid value   | sweep: s\\nrun: abcd\\ngrid: {sample.steps: [1, 1]}\\n              | grid.sample.steps: a value is listed twice
      zip lengths            | sweep: s\\nrun: abcd\\nzip: {sample.steps: [1, 2], sample.eta: [0.0]}\\n | zip.sample.eta: zip lists advance together
      sampling varies train  | sweep: s\\nrun: abcd\\ngrid: {train.unet.steps: [1]}\\n             | :3:8: grid.train.unet.steps: a sampling sweep varies only sample.*
      bad key path           | sweep: s\\nbase: base.yaml\\ngrid: {Steps: [1]}\\n                  | grid.Steps: an axis is a config key path
      nested value           | sweep: s\\nbase: base.yaml\\ngrid: {seed: [[1]]}\\n                 | grid.seed: values must be numbers, strings or booleans
      base missing           | sweep: s\\nbase: nothere.yaml\\ngrid: {seed: [1]}\\n                | :2:1: base: no such config
      model and run          | sweep: s\\nrun: abcd\\nmodel: tiny\\ngrid: {sample.prompt: [a]}\\n | :3:1: model: give one of run:
      prompts without prompt | sweep: s\\nmodel: tiny\\ngrid: {sample.steps: [1]}\\n               | :1:1: sweep: a prompt sweep needs the axis sample.prompt
      prompts scored         | sweep: s\\nmodel: tiny\\ngrid: {sample.prompt: [a]}\\nevaluate: {samples: 2}\\n | :4:1: evaluate: a prompt sweep is not scored
      prompts replicated     | sweep: s\\nmodel: tiny\\ngrid: {sample.prompt: [a]}\\nreplicates: 2\\n | :4:1: replicates: a prompt sweep has no replicates
      bad distribution       | sweep: s\\nbase: base.yaml\\nrandom: {n: 2, space: {seed: normal(0, 1)}}\\n | random.space.seed: expected uniform(a, b)
      loguniform at zero     | sweep: s\\nbase: base.yaml\\nrandom: {n: 2, space: {train.unet.learning_rate: 'loguniform(0, 1)'}}\\n | random.space.train.unet.learning_rate: loguniform needs 0 < a < b
      random without n       | sweep: s\\nbase: base.yaml\\nrandom: {space: {seed: 'int(1, 3)'}}\\n | random.n: how many draws
      replicates on sampling | sweep: s\\nrun: abcd\\ngrid: {sample.steps: [1]}\\nreplicates: 2\\n | :4:1: replicates: a sampling sweep has no replicates
      max_trials type        | sweep: s\\nrun: abcd\\ngrid: {sample.steps: [1]}\\nmax_trials: lots\\n | :4:1: max_trials: expected an integer
      slurm unknown key      | sweep: s\\nrun: abcd\\ngrid: {sample.steps: [1]}\\nslurm: {queue: x}\\n | slurm.queue: unknown key
      yaml tag               | sweep: !!java.net.URL [x]\\nrun: abcd\\ngrid: {sample.steps: [1]}\\n | YAML
      """)
  void load_badSweepFile_oneLineNamingPlaceAndKey(String name, String yaml, String expected) throws IOException {
    Path file = write(yaml.replace("\\n", "\n"));
    ConfigException e = assertThrows(ConfigException.class, () -> new SweepLoader().load(file));
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(expected.strip()), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
  }

  @Test
  void combinations_gridCrossedZipTogetherRandomReplayable() throws IOException {
    Path file = write("""
        sweep: s
        base: base.yaml
        grid:
          sample.sampler: [ddim, euler]
          sample.steps: [5, 10, 20]
        zip:
          sample.guidance_scale: [1.5, 3.0]
          sample.eta: [0.0, 0.5]
        random:
          n: 2
          seed: 7
          space: {train.unet.learning_rate: 'loguniform(1e-4, 3e-3)', train.unet.loss_weighting: 'choice(uniform, min_snr)'}
        """);
    SweepSpec spec = new SweepLoader().load(file);
    List<Map<String, Object>> all = SweepPlanner.combinations(spec);
    assertEquals(2 * 3 * 2 * 2, all.size());
    assertEquals(Map.of("sample.sampler", "ddim", "sample.steps", 5L, "sample.guidance_scale", 1.5,
        "sample.eta", 0.0, "train.unet.learning_rate", all.get(0).get("train.unet.learning_rate"),
        "train.unet.loss_weighting", all.get(0).get("train.unet.loss_weighting")), all.get(0));
    for (Map<String, Object> trial : all) {
      double rate = (Double) trial.get("train.unet.learning_rate");
      assertTrue(rate >= 1e-4 && rate <= 3e-3, "in the space: " + rate);
      assertTrue(List.of("uniform", "min_snr").contains(trial.get("train.unet.loss_weighting")));
      // zip rows advance together
      assertEquals(trial.get("sample.guidance_scale").equals(1.5), trial.get("sample.eta").equals(0.0));
    }
    assertEquals(all, SweepPlanner.combinations(new SweepLoader().load(file)), "same file, same draws");
    Map<String, Object> axes = new java.util.LinkedHashMap<>();
    axes.put("sample.sampler", "ddim");
    axes.put("sample.steps", 5L);
    axes.put("sample.guidance_scale", 1.5);
    assertEquals(List.of("sample.sampler=\"ddim\"", "sample.steps=5", "sample.guidance_scale=1.5"),
        SweepPlanner.overrides(axes), "values as JSON, which the override grammar reads as YAML");
  }

  @Test
  void shippedSweepFiles_loadAndExpandAsTheirDocsSay() {
    Path sweeps = io.latentlab.testing.TestProject.home().resolve("experiments").resolve("sweeps");
    SweepSpec samplers = new SweepLoader().load(sweeps.resolve("samplers.yaml"));
    assertTrue(samplers.sampling());
    assertEquals(88, SweepPlanner.combinations(samplers).size(), "11 samplers × 4 steps × 2 guidance");
    assertEquals(500, samplers.evaluate().samples());

    SweepSpec schedules = new SweepLoader().load(sweeps.resolve("schedules.yaml"));
    assertFalse(schedules.sampling());
    assertEquals(18, SweepPlanner.combinations(schedules).size(), "3 β schedules × 3 predictions × 2 weightings");
    assertEquals(500, schedules.evaluate().samples(), "each trained trial is scored");
  }

  @Test
  void trainingSweepWithoutEvaluate_isNotScored_samplingSweepAlwaysIs() throws IOException {
    Path training = write("sweep: s\nbase: base.yaml\ngrid: {seed: [1, 2]}\n");
    assertEquals(null, new SweepLoader().load(training).evaluate());
    Path sampling = write("sweep: s\nrun: abcd\ngrid: {sample.steps: [1]}\n");
    assertTrue(new SweepLoader().load(sampling).evaluate().samples() > 0);
  }
}
