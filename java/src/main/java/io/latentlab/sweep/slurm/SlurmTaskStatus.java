package io.latentlab.sweep.slurm;

/**
 * Where one trial of a sweep stands in Slurm ({@link SlurmExecutors#status}).
 *
 * @param index the trial's plan index
 * @param trial its id
 * @param jobId the job array of its latest submission
 * @param arrayIndex its task in that array ({@code <jobId>_<arrayIndex>} in squeue)
 * @param state Slurm's state of the task ({@code PENDING}, {@code RUNNING}, {@code COMPLETED},
 *     {@code FAILED}, {@code TIMEOUT}, ...), or null where Slurm no longer remembers it (the
 *     trial's state file then says how it ended)
 */
public record SlurmTaskStatus(int index, String trial, String jobId, int arrayIndex,
    String state) {}
