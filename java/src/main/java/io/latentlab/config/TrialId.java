package io.latentlab.config;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The identity of a trial: SHA-256 of its canonical resolved config plus a replicate index.
 *
 * @param sha256 64 lower-case hex digits
 * @param replicate which repetition of the same config (0 for the first)
 */
public record TrialId(String sha256, int replicate) {

  /**
   * Hashes a canonical config.
   *
   * @param canonicalJson from {@link ConfigLoader#canonicalJson}, after Python resolved it
   * @param replicate 0 for the first run of a config
   */
  public static TrialId of(String canonicalJson, int replicate) {
    if (replicate < 0) {
      throw new IllegalArgumentException("replicate must be >= 0, got " + replicate);
    }
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      digest.update(canonicalJson.getBytes(StandardCharsets.UTF_8));
      digest.update(("\nreplicate=" + replicate).getBytes(StandardCharsets.UTF_8));
      return new TrialId(HexFormat.of().formatHex(digest.digest()), replicate);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  /** The first 12 hex digits: the run directory's name. */
  public String shortId() {
    return sha256.substring(0, 12);
  }
}
