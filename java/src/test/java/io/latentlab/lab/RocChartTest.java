package io.latentlab.lab;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/** The anomaly task's ROC chart: the curve read on a grid of false-positive rates. */
class RocChartTest {
  @Test
  void stepCurve_takesTheHighestTprReachedAtEachRate() {
    // Two normal, two anomalous: scores rank anomalous, normal, anomalous, normal.
    double[] fpr = {0, 0, 0.5, 0.5, 1};
    double[] tpr = {0, 0.5, 0.5, 1, 1};
    double[] grid = new double[5];
    double[] values = RocChart.stepCurve(fpr, tpr, grid);
    assertArrayEquals(new double[] {0, 0.25, 0.5, 0.75, 1}, grid, 0);
    assertArrayEquals(new double[] {0.5, 0.5, 1, 1, 1}, values, 0);
  }

  @Test
  void rocPng_isAPictureOfEveryScore() throws IOException {
    ObjectMapper json = new ObjectMapper();
    ObjectNode result = json.createObjectNode().put("normal", 2).put("anomalous", 2);
    result.set("normal_classes", json.valueToTree(new int[] {0}));
    ObjectNode score = json.createObjectNode().put("name", "denoising_loss").put("auroc", 0.75);
    score.set("fpr", json.valueToTree(new double[] {0, 0, 0.5, 0.5, 1}));
    score.set("tpr", json.valueToTree(new double[] {0, 0.5, 0.5, 1, 1}));
    result.putArray("scores").add(score);
    BufferedImage picture = ImageIO.read(new ByteArrayInputStream(RocChart.png(result)));
    assertEquals(700, picture.getWidth());
    assertEquals(560, picture.getHeight());
  }
}
