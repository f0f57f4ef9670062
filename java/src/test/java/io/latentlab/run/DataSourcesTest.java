package io.latentlab.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What Python's data_source reports, read and written to provenance.json. */
class DataSourcesTest {
  private static final String REPLY = "{\"classes\": [\"cats\", \"dogs\"], \"counts\": {\"dogs\": 3, \"cats\": 5},"
      + " \"examples\": 8, \"files\": {}, \"fingerprint\": \"ab12\", \"location\": \"/data/pets\","
      + " \"shape\": [48, 64, 3], \"skipped\": 2}";

  @Test
  void fromJson_readsFingerprintClassesCountsShapeSkipped_andProvenanceRecordsThem() {
    DataSource data = DataSources.fromJson(RunArtifacts.readJson(REPLY));
    assertEquals("ab12", data.fingerprint());
    assertEquals(Map.of("cats", 5L, "dogs", 3L), data.countsByClass());
    assertEquals(List.of(5L, 3L), data.counts(), "counts in the order of the classes");
    assertEquals(List.of(48, 64, 3), data.shape());
    assertEquals(2, data.skipped());

    Provenance provenance = new Provenance("pets", "00", 0, "11", "pets.yaml", null, Map.of(), null,
        data.files(), data, Instant.EPOCH, null, "running", null, null);
    JsonNode written = RunArtifacts.readJson(new String(RunArtifacts.json(provenance),
        java.nio.charset.StandardCharsets.UTF_8));
    assertEquals(RunArtifacts.readJson("{\"location\": \"/data/pets\", \"examples\": 8, \"fingerprint\": \"ab12\","
        + " \"classes\": [\"cats\", \"dogs\"], \"counts\": [5, 3], \"shape\": [48, 64, 3], \"skipped\": 2}"),
        written.get("data_source"));
  }

  @Test
  void fromJson_olderReplyWithoutTheNewFields_isTheDigitsAsBefore() {
    DataSource data = DataSources.fromJson(RunArtifacts.readJson(
        "{\"location\": \"/p/mnist.json\", \"files\": {\"mnist.json\": \"ff\"}, \"examples\": 10000}"));
    assertEquals(Path.of("/p/mnist.json"), data.location());
    assertEquals(Map.of("mnist.json", "ff"), data.files());
    assertNull(data.fingerprint());
    assertEquals(0, data.skipped());
    JsonNode written = RunArtifacts.readJson(new String(RunArtifacts.json(data),
        java.nio.charset.StandardCharsets.UTF_8));
    assertFalse(written.has("fingerprint") || written.has("files"), written.toString());
  }
}
