package io.latentlab.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.testing.TestProject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** lab.data(config): the digits' facts and their grids as one picture a notebook shows. */
class DataViewTest {
  @Test
  void data_digitsOfTwoClasses_factsAndPictures() {
    PrintStream original = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
    DataView view;
    try (Lab lab = Lab.open(TestProject.home())) {
      view = lab.data(lab.config(TestProject.home().resolve("experiments/quickstart.yaml").toString())
          .set("data.classes", List.of(8, 3)));
      assertEquals(10000, view.examples());
      assertEquals(List.of(32, 32, 1), view.shape());
      assertEquals(10, view.classes().size());
      assertEquals(10000, view.counts().values().stream().mapToLong(Long::longValue).sum());
      assertEquals(2, view.grids().size(), "a grid for each class trained on: " + view.grids());
      BufferedImage picture = view.picture();
      BufferedImage three = view.grid("3");
      assertEquals(three.getWidth(), picture.getWidth());
      assertTrue(picture.getHeight() > 2 * three.getHeight() - 1, "both grids, one above the other");
      assertThrows(IllegalArgumentException.class, () -> view.grid("4"));
    } finally {
      System.setOut(original);
    }
    String text = printed.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("classes:     10 (training on [3, 8])"), text);
    assertEquals(view.toString(), text.substring(text.indexOf("data:")), "it prints what it shows");
  }
}
