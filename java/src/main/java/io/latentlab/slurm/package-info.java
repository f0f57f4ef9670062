/**
 * Slurm's client commands ({@code sbatch}, {@code squeue}, {@code scontrol}) as Java calls:
 * submitting a batch script, asking where a job or a job array's tasks stand, and how they
 * ended.
 *
 * <p>Owns: running those commands and reading their output. May call: nothing of LatentLab's.
 * Used by {@code io.latentlab.run} (a run submitted as one job) and
 * {@code io.latentlab.sweep.slurm} (a sweep's trials as job arrays).
 */
package io.latentlab.slurm;
