package io.latentlab.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConfigLoaderTest {
  private final ConfigLoader loader = new ConfigLoader();
  @TempDir Path dir;

  private Path write(String yaml) throws IOException {
    Path file = dir.resolve("experiment.yaml");
    Files.writeString(file, yaml);
    return file;
  }

  private String failure(String yaml) throws IOException {
    Path file = write(yaml);
    ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file));
    assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    assertTrue(e.getMessage().startsWith(file.toString()), "names the file: " + e.getMessage());
    return e.getMessage();
  }

  @Test
  void load_minimal_fillsDefaults() throws IOException {
    ExperimentConfig config = loader.load(write("name: mini\n"));
    assertEquals("mini", config.name());
    assertEquals(0L, config.seed());
    assertEquals("mnist-bundled", config.data().dataset());
    assertEquals(1000, config.data().holdout());
    assertEquals("dpmpp_2m", config.sample().sampler());
    assertEquals(20, config.sample().steps());
    assertEquals("karras", config.sample().spacing());
    assertEquals(null, config.sample().eta(), "left to the sampler's own default (Python fills it)");
    assertEquals(64, config.sample().numSamples());
    assertEquals("uniform", config.train().unet().lossWeighting());
    assertEquals(500, config.train().vae().steps());
    assertEquals(64, config.train().unet().batchSize());
  }

  @Test
  void load_nestedValues_override() throws IOException {
    ExperimentConfig config = loader.load(write(
        "name: x\nseed: 7\ntrain:\n  unet:\n    steps: 12\nsample:\n  guidance_scale: 1.5\n"));
    assertEquals(7L, config.seed());
    assertEquals(12, config.train().unet().steps());
    assertEquals(64, config.train().unet().batchSize());
    assertEquals(1.5, config.sample().guidanceScale());
  }

  @Test
  void load_unknownKey_namesPositionPathAndAllowed() throws IOException {
    String message = failure("name: x\ntrain:\n  unet:\n    stepz: 3\n");
    assertTrue(message.contains("experiment.yaml:4:5: "), message);
    assertTrue(message.contains("train.unet.stepz: unknown key"), message);
    assertTrue(message.contains("allowed: batch_size, ema_decay, init, label_dropout, learning_rate, loss_weighting, min_snr_gamma, steps"), message);
  }

  @Test
  void load_unknownTopLevelKey_refused() throws IOException {
    assertTrue(failure("name: x\nsampel: {}\n").contains("sampel: unknown key"));
  }

  @Test
  void load_duplicateKey_refused() throws IOException {
    String message = failure("name: x\nseed: 1\nseed: 2\n");
    assertTrue(message.toLowerCase().contains("duplicate"), message);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "name: x\\nseed: abc\\n                          | seed: expected an integer",
      "name: x\\nseed: '5'\\n                          | seed: expected an integer",
      "name: x\\nseed: 1.5\\n                          | seed: expected an integer",
      "name: x\\ntrain: {unet: {steps: ten}}\\n        | train.unet.steps: expected an integer",
      "name: x\\nsample: {guidance_scale: high}\\n     | sample.guidance_scale: expected a number",
      "name: x\\nsample: {sampler: 3}\\n               | sample.sampler: expected a string",
      "name: x\\ntrain: 5\\n                          | train: expected",
      "name: [a, b]\\n                              | name: expected a string",
      "name: x\\ntrain: {unet: {steps: 0}}\\n               | train.unet.steps: must be in [1,",
      "name: x\\ntrain: {vae: {batch_size: -3}}\\n          | train.vae.batch_size: must be in [1,",
      "name: x\\ntrain: {vae: {learning_rate: .nan}}\\n     | train.vae.learning_rate",
      "name: x\\nsample: {steps: 99999999999}\\n            | sample.steps",
      "name: x\\nsample: {eta: 1.5}\\n                      | sample.eta: must be in [0.0, 1.0]",
      "name: x\\ndata: {holdout: 99999}\\n                  | data.holdout: must be in [0, 50000]",
      "name: x\\ndata: {dataset: mnist-idx}\\n               | data.path: mnist-idx needs the folder",
      "name: x\\ndata: {dataset: mnist-idx, path: ../d}\\n   | data.path: must be a folder inside the project",
      "name: x\\ndata: {path: data/mnist}\\n              | data.path: mnist-bundled is bundled and reads no path; remove it",
      "name: x\\ndata: {dataset: emoji, path: /d}\\n      | data.path: emoji is bundled and reads no path",
      "name: x\\ndata: {dataset: image-folder}\\n         | data.path: image-folder needs the data's folder",
      "name: x\\ndata: {dataset: parquet}\\n              | data.path: parquet needs the data's file, folder or pattern",
      "name: x\\ndata: {dataset: webdataset, path: ''}\\n | data.path: webdataset needs",
      "name: x\\ndata: {dataset: emoji, resolution: 2}\\n  | data.resolution: each side must be in [4, 4096], got 2",
      "name: x\\ndata: {dataset: emoji, resolution: [32, 9999]}\\n | data.resolution: each side must be in [4, 4096], got [32, 9999]",
      "name: x\\ndata: {dataset: emoji, resolution: [32]}\\n | data.resolution: must be an int (e.g. 32) or [height, width]",
      "name: x\\ndata: {dataset: emoji, resolution: big}\\n | data.resolution: must be an int",
      "name: x\\ndata: {dataset: emoji, resolution: 3.5}\\n | data.resolution: must be an int",
      "name: x\\ndata: {resolution: 64}\\n                | data.resolution: the digits are 32×32, got 64; remove it",
      "name: x\\ndata: {channels: 3}\\n                  | data.channels: the digits have one channel, got 3; remove it",
      "name: x\\ndata: {dataset: emoji, channels: 2}\\n   | data.channels: must be 1 (grey) or 3 (RGB), got 2",
      "name: x\\ndata: {dataset: emoji, channels: rgb}\\n | data.channels: expected an integer",
      "name: x\\ndata: {dataset: emoji, resize: fit}\\n  | data.resize: must be one of crop, stretch, pad, got 'fit'",
      "name: x\\ndata: {resize: pad}\\n                  | data.resize: the digits are not resized; remove it",
      "name: x\\ndata: {flip: vertical}\\n               | data.flip: must be one of none, horizontal, got 'vertical'",
      "name: x\\ndata: {dataset: emoji, background: '#12'}\\n | data.background: must be \"#rrggbb\", \"#rgb\" or a colour name",
      "name: x\\ndata: {dataset: emoji, background: 'rgb(1,2,3)'}\\n | data.background: must be",
      "name: x\\ndata: {background: black}\\n            | data.background: the digits have no transparent pixels; remove it",
      "name: x\\ndata: {dataset: image-folder, path: /d, labels: dirs}\\n | data.labels: must be one of folders, none, got 'dirs'",
      "name: x\\ndata: {dataset: parquet, path: /d, labels: none}\\n | data.labels: only image-folder reads labels from folders; remove it",
      "name: x\\ndata: {dataset: image-folder, path: /d, columns: {image: img}}\\n | data.columns: only parquet has columns; remove it",
      "name: x\\ndata: {dataset: parquet, path: /d, columns: {picture: img}}\\n | data.columns.picture: unknown key; allowed: caption, image, label",
      "name: x\\ndata: {dataset: parquet, path: /d, columns: {image: ' '}}\\n | data.columns: image must name a column",
      "name: x\\ndata: {dataset: parquet, path: /d, on_error: ignore}\\n | data.on_error: must be one of fail, skip, got 'ignore'",
      "name: x\\ndata: {on_error: skip}\\n               | data.on_error: the bundled data sets are checked by their checksums; remove it",
      "name: x\\ndata: {dataset: webdataset, path: /d, fingerprint: md5}\\n | data.fingerprint: must be one of stat, content, got 'md5'",
      "name: x\\ndata: {dataset: emoji, fingerprint: content}\\n | data.fingerprint: the bundled data sets' files are always hashed; remove it",
      "name: x\\ndata: {limit: 0}\\n                  | data.limit: must be a positive number of training examples, got 0",
      "name: x\\ndata: {limit: many}\\n               | data.limit: expected an integer",
      "name: x\\ndata: {dataset: emoji, classes: [-1]}\\n  | data.classes: must be a non-empty list of class indices in [0, 100000)",
      "name: x\\ntrain: {unet: {loss_weighting: snr}}\\n  | train.unet.loss_weighting: must be one of uniform, min_snr",
      "name: x\\nsample: {rho: -1}\\n                    | sample.rho: must be in",
      "name: x\\ndata: {dataset: cifar}\\n                  | data.dataset: must be one of mnist-bundled",
      "name: ../escape\\n                                 | name: '../escape' is not allowed",
      "seed: 3\\n                                         | name: required key is missing",
      "name: x\\nexecution: {devices: some}\\n             | execution.devices: expected 'all' or a device count >= 1, got some",
      "name: x\\nexecution: {devices: 0}\\n                | execution.devices: expected 'all' or a device count >= 1, got 0",
      "name: x\\nexecution: {processes: 0}\\n              | execution.processes: must be in [1, 65536], got 0",
      "name: x\\nexecution: {coordinator: node1}\\n       | execution.coordinator: expected 'host:port', got 'node1'",
      "name: x\\nexecution: {checkpoint_every: 0}\\n       | execution.checkpoint_every: must be in [1, 1073741824], got 0",
      "name: x\\nexecution: {precision: float16}\\n        | execution.precision: must be one of float32, bfloat16",
      "name: x\\nexecution: {mesh: {data: 0}}\\n           | execution.mesh.data: must be in [1,",
  })
  void load_badValue_namesKeyAndWhatIsAllowed(String yaml, String expected) throws IOException {
    String message = failure(yaml.replace("\\n", "\n"));
    assertTrue(message.contains(expected), message);
  }

  @Test
  void load_missingFile_saysSo() {
    Path missing = dir.resolve("nope.yaml");
    ConfigException e = assertThrows(ConfigException.class, () -> loader.load(missing));
    assertEquals(missing + ": no such file; check the path (configs live in experiments/)", e.getMessage());
  }

  @Test
  void load_emptyFile_saysSo() throws IOException {
    assertTrue(failure("  \n\n").contains("the file is empty"));
  }

  @Test
  void load_nonUtf8_saysSo() throws IOException {
    Path file = dir.resolve("latin1.yaml");
    Files.write(file, "name: caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
    ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file));
    assertTrue(e.getMessage().endsWith("not UTF-8 text; save the config as UTF-8 YAML"), e.getMessage());
  }

  @Test
  void load_binaryFile_refused() throws IOException {
    Path file = dir.resolve("binary.yaml");
    Files.write(file, new byte[] {0x00, (byte) 0xff, 0x13, 0x37, (byte) 0xfe});
    ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file));
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "name: !!java.net.URL [\"http://example.com\"]",
      "name: x\\nseed: !!python/object/apply:os.system [\"true\"]",
      "!!javax.script.ScriptEngineManager [!!java.net.URLClassLoader [[]]]",
      "name: !custom x",
  })
  void load_yamlTag_refusedBeforeAnythingIsBuilt(String yaml) throws IOException {
    String message = failure(yaml.replace("\\n", "\n"));
    assertTrue(message.contains("YAML tag"), message);
  }

  @Test
  void load_aliasBomb_refused() throws IOException {
    StringBuilder yaml = new StringBuilder("name: x\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++) {
      yaml.append("a").append(i).append(": &a").append(i).append(" [");
      yaml.append(String.join(", ", java.util.Collections.nCopies(9, "*a" + (i - 1))));
      yaml.append("]\n");
    }
    assertTrue(failure(yaml.toString()).contains("YAML aliases"));
  }

  @Test
  void load_deepNesting_refused() throws IOException {
    String yaml = "name: x\nmodel: " + "[".repeat(100) + "]".repeat(100) + "\n";
    assertTrue(failure(yaml).contains("nesting deeper than"));
  }

  @Test
  void load_syntaxError_namesFile() throws IOException {
    assertTrue(failure("name: x\n  seed: : 3\n").contains("YAML syntax error"));
  }

  @Test
  void overrides_setNestedValuesAndCreateSections() throws IOException {
    Path file = write("name: x\ntrain:\n  unet: {steps: 10}\n");
    ExperimentConfig config = loader.load(file, java.util.List.of(
        "train.unet.steps=25", "sample.guidance_scale=1.5", "seed=9", "sample.sampler=ddpm"));
    assertEquals(25, config.train().unet().steps());
    assertEquals(1.5, config.sample().guidanceScale());
    assertEquals(9L, config.seed());
    assertEquals("ddpm", config.sample().sampler());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
      "train.unet.steps=-1      | override 'train.unet.steps=-1': train.unet.steps: must be in [1,",
      "train.unet.stepz=3       | override 'train.unet.stepz=3': train.unet.stepz: unknown key",
      "seed=abc                 | override 'seed=abc': seed: expected an integer",
      "seed                     | override 'seed': write key.path=value",
      "Train.unet.steps=3       | override 'Train.unet.steps=3': write key.path=value",
      "name.first=x             | override 'name.first=x': name is a value, not a section",
      "seed=!!java.net.URL [x]  | override 'seed=!!java.net.URL [x]':1:1: YAML tag",
  })
  void overrides_bad_nameTheOverride(String override, String expected) throws IOException {
    Path file = write("name: x\n");
    ConfigException e = assertThrows(ConfigException.class, () -> loader.load(file, java.util.List.of(override)));
    assertTrue(e.getMessage().startsWith(expected), e.getMessage());
  }

  @Test
  void builder_setsValuesWithTheCommandLineGrammar() throws IOException {
    Path file = write("name: x\n");
    ConfigBuilder builder = ConfigBuilder.from(file)
        .set("train.unet.steps", 500).set("sample.sampler", "heun").set("sample.eta", 0.5)
        .override("seed=3");
    assertEquals(java.util.List.of("train.unet.steps=500", "sample.sampler=\"heun\"", "sample.eta=0.5", "seed=3"),
        builder.overrides());
    ExperimentConfig config = builder.build();
    assertEquals(500, config.train().unet().steps());
    assertEquals("heun", config.sample().sampler());
    assertEquals(0.5, config.sample().eta());
    assertEquals(3L, config.seed());
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigBuilder.from(file).set("seed", "x").build());
    assertTrue(e.getMessage().startsWith("override 'seed=\"x\"': seed: expected an integer"), e.getMessage());
  }

  @Test
  void extends_mergesSectionBySection() throws IOException {
    Files.writeString(dir.resolve("base.yaml"), "name: base\nseed: 4\ntrain:\n  vae: {steps: 7, batch_size: 3}\n");
    Path child = dir.resolve("child.yaml");
    Files.writeString(child, "extends: base.yaml\nname: child\ntrain:\n  vae: {steps: 8}\n");
    ExperimentConfig config = loader.load(child);
    assertEquals("child", config.name());
    assertEquals(4L, config.seed());
    assertEquals(8, config.train().vae().steps());
    assertEquals(3, config.train().vae().batchSize());
  }

  @Test
  void extends_errorInBase_pointsIntoTheBase() throws IOException {
    Path base = dir.resolve("base.yaml");
    Files.writeString(base, "name: base\ntrain:\n  vae: {stepz: 7}\n");
    Path child = dir.resolve("child.yaml");
    Files.writeString(child, "extends: base.yaml\nname: child\n");
    ConfigException e = assertThrows(ConfigException.class, () -> loader.load(child));
    assertTrue(e.getMessage().startsWith(base + ":3:9: train.vae.stepz: unknown key"), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
      "extends: ../outside.yaml       | extends: '../outside.yaml' leaves the config's folder",
      "extends: missing.yaml          | extends: no such file",
      "extends: experiment.yaml       | 'extends' forms a cycle",
      "extends: [a.yaml]              | extends: expected a file name",
  })
  void extends_bad_refused(String line, String expected) throws IOException {
    String message = failure(line + "\nname: x\n");
    assertTrue(message.contains(expected), message);
  }

  @Test
  void canonicalJson_sortsKeysWhateverTheInputOrder() throws IOException {
    ExperimentConfig a = loader.load(write("name: x\nseed: 3\nsample: {steps: 10, eta: 0.5}\n"));
    ExperimentConfig b = loader.load(write("sample: {eta: 0.5, steps: 10}\nseed: 3\nname: x\n"));
    String json = loader.canonicalJson(a);
    assertEquals(json, loader.canonicalJson(b));
    assertTrue(json.indexOf("\"data\"") < json.indexOf("\"name\"") && json.indexOf("\"name\"") < json.indexOf("\"seed\""), json);
    assertEquals(json, loader.canonicalJson(loader.fromJson(json)));
  }

  @Test
  void canonicalJson_sortsTheOpaqueModelSectionsToo() throws IOException {
    // model: is a map, not a record, so its keys are sorted by ORDER_MAP_ENTRIES_BY_KEYS and not
    // by SORT_PROPERTIES_ALPHABETICALLY: the same model written in another order is the same trial.
    String a = loader.canonicalJson(loader.load(write(
        "name: x\nmodel: {vae: {latent_channels: 4, base_channels: 32}, unet: {depth: 2}}\n")));
    String b = loader.canonicalJson(loader.load(write(
        "name: x\nmodel: {unet: {depth: 2}, vae: {base_channels: 32, latent_channels: 4}}\n")));
    assertTrue(a.contains("\"model\":{\"unet\":{\"depth\":2},\"vae\":{\"base_channels\":32,\"latent_channels\":4}}"), a);
    assertEquals(a, b);
    assertEquals(TrialId.of(a, 0), TrialId.of(b, 0));
  }

  @Test
  void trialId_dependsOnConfigAndReplicate() throws IOException {
    String a = loader.canonicalJson(loader.load(write("name: x\nseed: 3\n")));
    String b = loader.canonicalJson(loader.load(write("name: x\nseed: 4\n")));
    assertEquals(TrialId.of(a, 0), TrialId.of(a, 0));
    assertNotEquals(TrialId.of(a, 0).sha256(), TrialId.of(b, 0).sha256());
    assertNotEquals(TrialId.of(a, 0).sha256(), TrialId.of(a, 1).sha256());
    assertTrue(TrialId.of(a, 0).shortId().matches("[0-9a-f]{12}"));
  }

  @Test
  void load_textModelKeys_keptAndAbsentOnesLeaveTheJsonAsItWas() throws IOException {
    ExperimentConfig config = loader.load(write("name: x\ntrain:\n  unet:\n    init: tiny\n"
        + "sample:\n  prompts: [red apple, \"flag: japan\"]\n"));
    assertEquals("tiny", config.train().unet().init());
    assertEquals(List.of("red apple", "flag: japan"), config.sample().prompts());
    String json = loader.canonicalJson(config);
    assertTrue(json.contains("\"init\":\"tiny\"") && json.contains("\"prompts\":[\"red apple\""), json);
    // absent, they are not in the JSON the trial id hashes: other configs keep their ids
    String plain = loader.canonicalJson(loader.load(write("name: x\n")));
    assertFalse(plain.contains("init") || plain.contains("prompts"), plain);
    assertTrue(failure("name: x\nsample:\n  prompts: [{a: b}]\n").contains("sample.prompts[0]"));
    assertTrue(failure("name: x\ntrain:\n  unet:\n    init: ' '\n")
        .contains("train.unet.init: give an imported model's name"));
  }

  @Test
  void load_dataClasses_sortedAndAllTenIsTheDefaultTrial() throws IOException {
    ExperimentConfig some = loader.load(write("name: mini\ndata: {classes: [7, 3, 0]}\n"));
    assertEquals(java.util.List.of(0, 3, 7), some.data().classes());
    String without = loader.canonicalJson(loader.load(write("name: mini\n")));
    assertFalse(without.contains("classes"), "a config without data.classes keeps its trial id: " + without);
    String allTen = loader.canonicalJson(loader.load(
        write("name: mini\ndata: {classes: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]}\n")));
    assertEquals(without, allTen);
    assertEquals(loader.canonicalJson(some),
        loader.canonicalJson(loader.load(write("name: mini\ndata: {classes: [0, 7, 3]}\n"))));
    assertNotEquals(without, loader.canonicalJson(some));
  }

  @Test
  void load_ownData_keysKeptAndDefaultsDropped() throws IOException {
    ExperimentConfig folder = loader.load(write("name: mine\ndata: {dataset: image-folder, "
        + "path: /data/pets, resolution: [48, 64], channels: 1, resize: pad, flip: horizontal, "
        + "background: '#FFAA00', labels: none, on_error: skip, fingerprint: content, classes: [12, 3]}\n"));
    DataConfig data = folder.data();
    assertEquals(new DataConfig.Resolution(48, 64), data.resolution());
    assertEquals(0, data.holdout(), "own data holds out nothing unless asked");
    assertEquals(java.util.List.of(3, 12), data.classes());
    String json = loader.canonicalJson(folder);
    assertTrue(json.contains("\"data\":{\"background\":\"#ffaa00\",\"channels\":1,\"classes\":[3,12],"
        + "\"dataset\":\"image-folder\",\"fingerprint\":\"content\",\"flip\":\"horizontal\",\"holdout\":0,"
        + "\"labels\":\"none\",\"on_error\":\"skip\",\"path\":\"/data/pets\",\"resize\":\"pad\","
        + "\"resolution\":[48,64]}"), json);
    assertEquals(folder, loader.fromJson(json), "the canonical JSON reads back as the same config");
    // A square resolution is one int, and a key at its default is as if absent: same trial.
    String explicit = loader.canonicalJson(loader.load(write("name: mine\ndata: {dataset: parquet, "
        + "path: 'shards/*.parquet', resolution: [32, 32], resize: crop, flip: none, background: white, "
        + "on_error: fail, fingerprint: stat, columns: {image: jpg}}\n")));
    String implicit = loader.canonicalJson(loader.load(write("name: mine\ndata: {dataset: parquet, "
        + "path: 'shards/*.parquet', resolution: 32, columns: {image: jpg}}\n")));
    assertEquals(implicit, explicit);
    assertTrue(implicit.contains("\"columns\":{\"image\":\"jpg\"}") && implicit.contains("\"resolution\":32"), implicit);
    // The digits: 32×32 and one channel said out loud are the digits' own trial.
    String digits = loader.canonicalJson(loader.load(write("name: mine\n")));
    assertEquals(digits, loader.canonicalJson(loader.load(write(
        "name: mine\ndata: {resolution: [32, 32], channels: 1, flip: none}\n"))));
    assertEquals("{\"dataset\":\"mnist-bundled\",\"holdout\":1000,\"path\":null}",
        digits.replaceAll(".*\"data\":(\\{[^}]*\\}).*", "$1"), "no new key in the digits' data");
  }

  @Test
  void load_badDataClasses_oneLineNamingTheKey() throws IOException {
    assertTrue(failure("name: mini\ndata: {classes: []}\n").contains("data.classes: must be a non-empty list"));
    assertTrue(failure("name: mini\ndata: {classes: [1, 10]}\n").contains("data.classes: must be a non-empty list of digits in [0, 10)"));
    assertTrue(failure("name: mini\ndata: {classes: [1, 1]}\n").contains("data.classes: lists a class twice"));
    assertTrue(failure("name: mini\ndata: {classes: 3}\n").contains("classes"));
  }

  @Test
  void execution_defaultsFilled() throws IOException {
    ExecutionConfig execution = loader.load(write("name: x\n")).execution();
    assertEquals("all", execution.devices());
    assertEquals("float32", execution.precision());
    assertEquals(-1, execution.mesh().data());
    assertEquals(4, loader.load(write("name: x\nexecution: {devices: 4}\n")).execution().devices());
  }

  @Test
  void execution_unknownKeyOrWrongType_namesFileLineColumnAndKey() throws IOException {
    String unknown = failure("name: x\nexecution:\n  precison: bfloat16\n");
    assertTrue(unknown.contains("experiment.yaml:3:3: execution.precison: unknown key; allowed: checkpoint_every, coordinator, devices, mesh, precision, processes"),
        unknown);
    String mesh = failure("name: x\nexecution:\n  mesh: {model: 2}\n");
    assertTrue(mesh.contains(":3:10: execution.mesh.model: unknown key; allowed: data"), mesh);
    String type = failure("name: x\nexecution:\n  precision: 16\n");
    assertTrue(type.contains(":3:3: execution.precision: expected a string"), type);
  }

  @Test
  void identityJson_leavesOutDevicesMeshProcessesAndCheckpointsButNotPrecision() throws IOException {
    ExperimentConfig plain = loader.load(write("name: x\nseed: 3\n"));
    String identity = loader.identityJson(plain);
    assertFalse(identity.contains("execution"), "no section, no default: ids from before it stay: " + identity);
    assertEquals(identity, loader.identityJson(loader.load(write(
        "name: x\nseed: 3\nexecution: {devices: 4, mesh: {data: 4}, precision: float32, processes: 2, "
            + "coordinator: 'node1:4000', checkpoint_every: 7}\n"))));
    assertEquals(identity, loader.identityJson(loader.load(write(
        "name: x\nseed: 3\ntracking: {previews: 50, mlflow: 'http://127.0.0.1:5000'}\n"))),
        "where a run is watched changes none of its results");
    String bf16 = loader.identityJson(loader.load(write("name: x\nseed: 3\nexecution: {precision: bfloat16}\n")));
    assertNotEquals(identity, bf16);
    assertTrue(bf16.contains("\"execution\":{\"precision\":\"bfloat16\"}"), bf16);
    // The full canonical form (what Python runs, config.yaml) keeps every key.
    assertTrue(loader.canonicalJson(plain).contains("\"execution\":{\"checkpoint_every\":100,\"devices\":\"all\",\"mesh\":{\"data\":-1},\"precision\":\"float32\",\"processes\":1}"),
        loader.canonicalJson(plain));
    assertEquals(loader.canonicalJson(plain), loader.canonicalJson(loader.fromJson(loader.canonicalJson(plain))));
  }

  @Test
  void format_absent_isFormatOneMigratedAndRecordedAsTheCurrent() throws IOException {
    ExperimentConfig old = loader.load(write("name: x\nsample:\n  timestep_spacing: trailing\n"));
    assertEquals("trailing", old.sample().spacing(), "format 1's name of the σ grid");
    assertEquals(ConfigFormat.CURRENT, old.format());
    assertTrue(loader.toYaml(old).contains("\nformat: 2\n"), loader.toYaml(old));
    assertTrue(loader.canonicalJson(old).contains("\"format\":2"), loader.canonicalJson(old));
  }

  @Test
  void format_doesNotEnterTheTrialId() throws IOException {
    String unversioned = loader.identityJson(loader.load(write("name: x\nseed: 3\n")));
    assertFalse(unversioned.contains("format"), unversioned);
    assertEquals(unversioned, loader.identityJson(loader.load(write("name: x\nseed: 3\nformat: 2\n"))));
    assertEquals(unversioned, loader.identityJson(loader.load(write(
        "name: x\nseed: 3\nformat: 1\nsample: {timestep_spacing: karras}\n"))));
  }

  @Test
  void format_currentOne_keepsItsKeysAsTheyAre() throws IOException {
    String message = failure("name: x\nformat: 2\nsample:\n  timestep_spacing: trailing\n");
    assertTrue(message.contains("sample.timestep_spacing: unknown key"), message);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "format: 3|format: 3 was written by a newer LatentLab; this one reads formats 1 to 2",
      "format: 0|format: expected a format number (1 to 2), got 0",
      "format: two|format: expected a format number (1 to 2), got \"two\"",
      "sample: {spacing: karras, timestep_spacing: trailing}|sample: both spacing and its old name"})
  void format_bad_oneLineNamingTheKey(String line, String expected) throws IOException {
    String message = failure("name: x\n" + line + "\n");
    assertTrue(message.contains(expected), message);
  }
}
