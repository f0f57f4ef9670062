package io.latentlab.shell;

import io.latentlab.testing.TestProject;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code lab.run(lab.config(FILE).set("execution.processes", 2))}, the JShell facade's call, in
 * a JVM of its own (the test JVM's Python has one device; a 2-process run needs the devices
 * the caller's XLA_FLAGS give this one). Prints {@code MARK <run>} and exits 0, or the
 * facade's one-line error and exits 1.
 */
public final class LabRunProgram {
  private LabRunProgram() {}

  /** @param args the project, the config file, the runs folder */
  public static void main(String[] args) {
    Lab lab = Lab.open(Path.of(args[0]));
    lab.runsDir(args[2]);
    try {
      Run run = lab.run(lab.config(args[1]).set("execution.processes", 2));
      System.out.println("MARK " + run);
      System.out.flush();
      System.exit(0);
    } catch (LabException e) {
      System.out.println(e.getMessage());
      System.out.flush();
      System.exit(1);
    }
  }

  /** The command that runs this program: the test classes, the classes and the jars. */
  public static List<String> command(Path config, Path runs) throws IOException {
    return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", TestProject.testClassPath(),
        LabRunProgram.class.getName(), TestProject.home().toString(), config.toString(),
        runs.toString());
  }
}
