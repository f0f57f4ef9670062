/**
 * Runs sweeps on a Slurm cluster: {@link io.latentlab.sweep.slurm.SlurmExecutors} builds the
 * executor that submits a sweep's pending trials as a job array (each task runs
 * {@link io.latentlab.sweep.execute.TaskCommand}), waits for it and retries failed trials, and
 * says where a sweep's trials stand in the queue.
 *
 * <p>Owns: Slurm's client commands, the batch scripts and submission records under the sweep
 * directory's {@code slurm/}. May call: {@code io.latentlab.sweep} (plan, directory, states) and
 * {@code io.latentlab.sweep.execute} (the executor contract, the task command, a trial's
 * claim). Nothing calls into it but the command line and the shell.
 */
package io.latentlab.sweep.slurm;
