package io.latentlab.cli;

/** A command whose work ends in one stored result in its run's directory (denoise, inpaint, anomaly). */
interface ResultCommand {
  /** The result the command's options name; null until the options were checked. */
  StoredResult stored();
}
