package io.latentlab.sweep.slurm;

import io.latentlab.sweep.SweepDirectory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * One job array submitted for a sweep, recorded as {@code slurm/submit-<number>.json} beside its
 * script {@code slurm/submit-<number>.sh}: array task {@code i} runs the plan's trial
 * {@code indexes[i]} (whose id is {@code trials[i]}).
 *
 * @param number the submission's number in this sweep directory (1, 2, ...)
 * @param jobId Slurm's array job id; null while sbatch runs (a record left so by a sweep killed
 *     then is completed by the next run, which finds the job by its name)
 * @param submittedAt when it was handed to sbatch
 * @param attempt 0 for a first submission, n for the n-th retry of failed trials
 * @param indexes plan index of each array task, by array index
 * @param trials trial id of each array task, by array index
 */
record SlurmSubmission(int number, String jobId, Instant submittedAt, int attempt,
    List<Integer> indexes, List<String> trials) {
  /** The submissions' folder in a sweep directory. */
  static final String FOLDER = "slurm";

  SlurmSubmission {
    indexes = List.copyOf(indexes);
    trials = List.copyOf(trials);
  }

  /** The file name of submission {@code number}'s record ({@code suffix} "json") or script. */
  static String file(int number, String suffix) {
    return FOLDER + "/submit-" + number + "." + suffix;
  }

  /** This submission with the job id sbatch gave it. */
  SlurmSubmission withJobId(String id) {
    return new SlurmSubmission(number, id, submittedAt, attempt, indexes, trials);
  }

  /** Removes the record (sbatch refused it: no job exists); the script stays for reading. */
  void delete(SweepDirectory directory) {
    try {
      Files.deleteIfExists(directory.path().resolve(file(number, "json")));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot remove " + file(number, "json"), e);
    }
  }

  /** Writes the record atomically. */
  void write(SweepDirectory directory) {
    directory.writeJson(file(number, "json"), this);
  }

  /** The number the next submission takes: one past the highest script or record there. */
  static int next(SweepDirectory directory) {
    return numbers(directory, "").stream().max(Integer::compare).orElse(0) + 1;
  }

  /** Every recorded submission of a sweep directory, oldest first. */
  static List<SlurmSubmission> all(SweepDirectory directory) {
    List<SlurmSubmission> submissions = new ArrayList<>();
    for (int number : numbers(directory, ".json")) {
      try {
        submissions.add(directory.readJson(file(number, "json"), SlurmSubmission.class));
      } catch (UncheckedIOException e) {
        throw new UncheckedIOException("cannot read the Slurm submission "
            + directory.path().resolve(file(number, "json")), e.getCause());
      }
    }
    submissions.sort(Comparator.comparingInt(SlurmSubmission::number));
    return submissions;
  }

  private static List<Integer> numbers(SweepDirectory directory, String suffix) {
    Path folder = directory.path().resolve(FOLDER);
    if (!Files.isDirectory(folder)) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(folder)) {
      return files.map(p -> p.getFileName().toString())
          .filter(name -> name.matches("submit-\\d+\\..*") && name.endsWith(suffix))
          .map(name -> Integer.parseInt(name.substring(7, name.indexOf('.'))))
          .distinct().sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + folder, e);
    }
  }
}
