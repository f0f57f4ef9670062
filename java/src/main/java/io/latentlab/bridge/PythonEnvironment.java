package io.latentlab.bridge;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Where the project's Python lives: the {@code .venv} that {@code ./latentlab} creates, its
 * site-packages, Jep's native library, and the Jep versions of the jar and the native library.
 *
 * @param home the project root (holds {@code .venv} and {@code python/})
 * @param sitePackages {@code .venv/lib/python3.X/site-packages}
 * @param jepLibrary the native {@code libjep.so} that pip built
 * @param nativeJepVersion the version pip installed (from {@code jep/version.py})
 * @param jarJepVersion the version of the Jep jar on the classpath
 */
public record PythonEnvironment(
    Path home, Path sitePackages, Path jepLibrary, String nativeJepVersion, String jarJepVersion) {

  private static final Pattern VERSION_LINE =
      Pattern.compile("^__VERSION__\\s*=\\s*['\"]([^'\"]+)['\"]", Pattern.MULTILINE);
  private static final Pattern JAR_NAME = Pattern.compile("jep-([0-9][^/]*)\\.jar$");

  /**
   * Finds the project root: the {@code latentlab.home} system property (the launcher sets it),
   * else the nearest folder at or above the working directory that holds both
   * {@code environment.yml} and {@code .venv}.
   *
   * @throws IllegalStateException in one line if there is none
   */
  public static Path discoverHome() {
    String property = System.getProperty("latentlab.home");
    if (property != null) {
      return Path.of(property).toAbsolutePath().normalize();
    }
    Path start = Path.of(System.getProperty("user.dir")).toAbsolutePath().normalize();
    for (Path dir = start; dir != null; dir = dir.getParent()) {
      if (Files.isRegularFile(dir.resolve("environment.yml")) && Files.isDirectory(dir.resolve(".venv"))) {
        return dir;
      }
    }
    throw new IllegalStateException("no LatentLab project (environment.yml and .venv) at or above "
        + start + "; run ./latentlab setup there, or set -Dlatentlab.home=<project>");
  }

  /**
   * Locates the environment under a project root.
   *
   * @throws IllegalStateException in one line saying what is missing and how to set it up
   */
  public static PythonEnvironment locate(Path home) {
    Path venvLib = home.resolve(".venv").resolve("lib");
    Path sitePackages;
    try (Stream<Path> pythons = Files.list(venvLib)) {
      sitePackages = pythons
          .filter(p -> p.getFileName().toString().startsWith("python3"))
          .map(p -> p.resolve("site-packages"))
          .filter(Files::isDirectory)
          .findFirst()
          .orElseThrow(() -> missing(home, "no site-packages under " + venvLib));
    } catch (IOException e) {
      throw missing(home, "no Python environment at " + home.resolve(".venv"));
    }
    Path jepLibrary = sitePackages.resolve("jep").resolve("libjep.so");
    if (!Files.isRegularFile(jepLibrary)) {
      throw missing(home, "Jep's native library is not at " + jepLibrary);
    }
    return new PythonEnvironment(home, sitePackages, jepLibrary,
        nativeVersion(sitePackages.resolve("jep").resolve("version.py")), jarVersion());
  }

  /**
   * Checks that the Jep jar and native library are the same version.
   *
   * @throws IllegalStateException in one line naming both versions and the fix
   */
  public void checkJepVersions() {
    if (!nativeJepVersion.equals(jarJepVersion)) {
      throw new IllegalStateException(String.format(
          "Jep mismatch: the jar is %s (pom.xml jep.version) but the native library in %s is %s "
              + "(environment.yml); make the two pins equal and run ./latentlab setup",
          jarJepVersion, sitePackages.resolve("jep"), nativeJepVersion));
    }
  }

  private static IllegalStateException missing(Path home, String what) {
    return new IllegalStateException(what + "; run ./latentlab setup in " + home);
  }

  private static String nativeVersion(Path versionFile) {
    try {
      Matcher m = VERSION_LINE.matcher(Files.readString(versionFile));
      if (m.find()) {
        return m.group(1);
      }
      throw new IllegalStateException("no __VERSION__ in " + versionFile);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + versionFile, e);
    }
  }

  /** The Jep jar's version, from the jar's file name (Maven's and pip's jars are both so named). */
  static String jarVersion() {
    java.security.CodeSource source = jep.Jep.class.getProtectionDomain().getCodeSource();
    if (source != null) {
      Matcher m = JAR_NAME.matcher(source.getLocation().getPath());
      if (m.find()) {
        return m.group(1);
      }
    }
    throw new IllegalStateException("cannot tell the Jep jar's version from " + source
        + "; put jep-<version>.jar on the classpath");
  }
}
