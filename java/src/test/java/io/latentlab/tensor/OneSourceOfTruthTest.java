package io.latentlab.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonConstants;
import io.latentlab.config.ExecutionConfig;
import io.latentlab.config.SampleConfig;
import io.latentlab.config.TrainConfig;
import io.latentlab.run.BuildInfo;
import io.latentlab.testing.TestProject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Where Java keeps a copy of a name or default that Python owns (so that a config is checked
 * before Python starts), the copy must equal Python's. Python is asked, not re-read.
 */
class OneSourceOfTruthTest {
  static PythonConstants python;

  @BeforeAll
  static void askPython() {
    python = PythonConstants.of(PythonBridge.start(TestProject.home()));
  }

  @Test
  void samplingDefaults_agree() {
    assertEquals(python.defaultSpacing(), SampleConfig.DEFAULT_SPACING);
    assertEquals(python.defaultRho(), SampleConfig.DEFAULT_RHO);
    assertEquals(true, python.samplers().contains(SampleConfig.DEFAULT_SAMPLER));
  }

  @Test
  void samplingRanges_agree() {
    // Java checks a config's and an option's η and guidance before Python starts.
    assertEquals(java.util.List.of(0.0, SampleConfig.MAX_ETA), python.etaRange());
    assertEquals(java.util.List.of(0.0, SampleConfig.MAX_GUIDANCE), python.guidanceRange());
  }

  @Test
  void lossWeightings_agree() {
    assertEquals(python.lossWeightings(), TrainConfig.UnetTraining.LOSS_WEIGHTINGS);
  }

  @Test
  void executionDefaults_agree() {
    assertEquals(python.precisions(), ExecutionConfig.PRECISIONS);
    assertEquals(python.defaultPrecision(), ExecutionConfig.DEFAULT_PRECISION);
    assertEquals(python.defaultCheckpointEvery(), ExecutionConfig.DEFAULT_CHECKPOINT_EVERY);
  }

  @Test
  void dataChoices_agree() {
    // Java refuses a bad data section before Python starts, with these lists.
    assertEquals(java.util.Map.of(
        "datasets", io.latentlab.config.DataConfig.DATASETS,
        "resize_modes", io.latentlab.config.DataConfig.RESIZE_MODES,
        "flips", io.latentlab.config.DataConfig.FLIPS,
        "labels", io.latentlab.config.DataConfig.LABELS,
        "on_error", io.latentlab.config.DataConfig.ON_ERROR,
        "fingerprints", io.latentlab.config.DataConfig.FINGERPRINTS), python.dataChoices());
  }

  @Test
  void tensorExtensionsAndDtypes_agree() {
    assertEquals(python.tensorExtension(), TensorMetadata.FIXED_SHAPE_TENSOR);
    assertEquals(python.bfloat16TensorExtension(), TensorMetadata.BFLOAT16_TENSOR);
    assertEquals(python.dtypes(), Arrays.stream(DType.values()).map(DType::pythonName).toList());
  }

  @Test
  void projectVersion_javaAndPythonAgree() throws Exception {
    Matcher m = Pattern.compile("(?m)^__version__ = \"([^\"]+)\"")
        .matcher(Files.readString(TestProject.home().resolve(Path.of("python", "latentlab", "__init__.py"))));
    assertEquals(true, m.find(), "latentlab/__init__.py declares __version__");
    assertEquals(BuildInfo.get("version"), m.group(1), "pom.xml <version> vs latentlab.__version__");
  }
}
