/**
 * One trial: {@link io.latentlab.run.TrialPlanner} turns a config into a trial id and run
 * directory without side effects; {@link io.latentlab.run.TrialExecutor} claims the trial
 * ({@link io.latentlab.run.RunClaim}), records provenance and runs it through the bridge;
 * {@link io.latentlab.run.RunDirectory} is the run's folder (atomic writes, the names of its
 * files, what "completed" and "has trained weights" mean); {@link io.latentlab.run.RunArtifacts}
 * and {@link io.latentlab.run.ModelResults} write what a run and the tasks on its model produce;
 * {@link io.latentlab.run.SamplerSession} samples step by step from Java;
 * {@link io.latentlab.run.SamplingRule} asks Python's rule for a derived sampling request.
 *
 * <p>Owns: run directories and what is in them. May call bridge, tensor and config only
 * (LayeringTest); sweeps, the store, the library layer and the skins build on it.
 */
package io.latentlab.run;
