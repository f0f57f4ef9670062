/**
 * Runs a sweep's trials: {@link io.latentlab.sweep.execute.SweepRunner} plans, resumes and runs a
 * sweep under one runs root with a {@link io.latentlab.sweep.execute.SweepExecutor};
 * {@link io.latentlab.sweep.execute.SweepExecutors} has the local ones (this JVM, worker
 * processes); {@link io.latentlab.sweep.execute.TrialRunner} runs one trial whichever executor
 * asked (trains it, or samples and scores it), claiming it first and writing its state;
 * {@link io.latentlab.sweep.execute.TaskCommand} is the {@code latentlab sweep-task} command line
 * that runs one trial in its own process; {@link io.latentlab.sweep.execute.Sweep} is the facade
 * for JShell and notebooks.
 *
 * <p>Owns: executing trials, the claim rules between processes, the worker-process command.
 * May call: {@code io.latentlab.sweep} (plan, directory, states), {@code io.latentlab.sweep.report}
 * (to refresh the report), {@code run}, {@code config}, {@code bridge}, {@code tensor}. Never
 * {@code io.latentlab.sweep.slurm}, which builds on this package.
 */
package io.latentlab.sweep.execute;
