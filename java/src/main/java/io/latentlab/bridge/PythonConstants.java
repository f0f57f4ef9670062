package io.latentlab.bridge;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Names and defaults that Python owns, as Python reports them ({@code latentlab.bridge.constants}):
 * the samplers, σ spacings, β schedules and loss weightings there are, the sampling defaults,
 * the tensor extension names and element types that cross the boundary. Java code that must
 * know one of these asks here instead of keeping its own copy; where Java keeps a copy for
 * checks made before Python starts (a config's defaults), a test compares the two.
 *
 * @param samplers sampler names
 * @param spacings σ grid names
 * @param defaultSpacing the σ grid a config gets when it names none
 * @param defaultRho ρ of the Karras and polyexponential grids when a config names none
 * @param betaSchedules β schedule names
 * @param lossWeightings loss weighting names
 * @param tensorExtension the Arrow extension name of a tensor column
 * @param bfloat16TensorExtension LatentLab's extension name of a bfloat16 tensor column
 * @param dtypes the element types that cross, by NumPy name
 * @param precisions the compute precisions of {@code execution.precision}
 * @param defaultPrecision the precision a config gets when it names none
 * @param defaultEtas each sampler that has an η (noise), with its own default
 * @param etaRange the smallest and largest η a request may give
 * @param guidanceRange the smallest and largest guidance scale a request may give
 * @param dataChoices the allowed values of the data section's choices, by Python's name
 *     ({@code datasets}, {@code resize_modes}, {@code flips}, {@code labels}, {@code on_error},
 *     {@code fingerprints})
 * @param defaultCheckpointEvery steps between training checkpoints when a config names none
 */
public record PythonConstants(List<String> samplers, List<String> spacings, String defaultSpacing,
    double defaultRho, List<String> betaSchedules, List<String> lossWeightings,
    String tensorExtension, String bfloat16TensorExtension, List<String> dtypes,
    List<String> precisions, String defaultPrecision, Map<String, Double> defaultEtas,
    List<Double> etaRange, List<Double> guidanceRange, Map<String, List<String>> dataChoices,
    int defaultCheckpointEvery) {
  /** Python's names of the data section's choices (its {@code constants()} keys). */
  public static final List<String> DATA_CHOICES =
      List.of("datasets", "resize_modes", "flips", "labels", "on_error", "fingerprints");
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Copies the lists. */
  public PythonConstants {
    samplers = List.copyOf(samplers);
    spacings = List.copyOf(spacings);
    betaSchedules = List.copyOf(betaSchedules);
    lossWeightings = List.copyOf(lossWeightings);
    dtypes = List.copyOf(dtypes);
    precisions = List.copyOf(precisions);
    defaultEtas = Map.copyOf(defaultEtas);
    etaRange = List.copyOf(etaRange);
    guidanceRange = List.copyOf(guidanceRange);
    dataChoices = Map.copyOf(dataChoices);
  }

  /**
   * Asks the bridge's Python.
   *
   * @throws PythonException if Python fails
   */
  public static PythonConstants of(PythonBridge bridge) {
    JsonNode root;
    try {
      root = JSON.readTree(bridge.callForString("constants"));
    } catch (IOException e) {
      throw new IllegalStateException("Python returned malformed constants", e);
    }
    return new PythonConstants(names(root.path("samplers")), names(root.path("spacings")),
        root.path("default_spacing").asText(), root.path("default_rho").asDouble(),
        names(root.path("beta_schedules")), names(root.path("loss_weightings")),
        root.path("tensor_extension").asText(), root.path("bfloat16_tensor_extension").asText(),
        names(root.path("dtypes")), names(root.path("precisions")),
        root.path("default_precision").asText(), defaultEtas(root.path("samplers")),
        numbers(root.path("eta_range")), numbers(root.path("guidance_range")),
        dataChoices(root), root.path("default_checkpoint_every").asInt());
  }

  private static Map<String, List<String>> dataChoices(JsonNode root) {
    Map<String, List<String>> choices = new java.util.TreeMap<>();
    DATA_CHOICES.forEach(key -> choices.put(key, names(root.path(key))));
    return choices;
  }

  /** Each sampler that has an η and its default (Python's {@code samplers}: name → η or null). */
  private static Map<String, Double> defaultEtas(JsonNode samplers) {
    Map<String, Double> etas = new java.util.TreeMap<>();
    samplers.fields().forEachRemaining(e -> {
      if (e.getValue().isNumber()) {
        etas.put(e.getKey(), e.getValue().asDouble());
      }
    });
    return etas;
  }

  private static List<Double> numbers(JsonNode list) {
    List<Double> values = new ArrayList<>();
    list.forEach(item -> values.add(item.asDouble()));
    return values;
  }

  /** The names of a JSON list of names, or of an object's keys (name → details). */
  private static List<String> names(JsonNode node) {
    List<String> names = new ArrayList<>();
    if (node.isObject()) {
      node.fieldNames().forEachRemaining(names::add);
    } else {
      node.forEach(item -> names.add(item.isTextual() ? item.asText() : item.path("name").asText()));
    }
    return names;
  }
}
