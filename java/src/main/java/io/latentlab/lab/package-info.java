/**
 * The library layer: the model tasks ({@link io.latentlab.lab.EvaluateTask},
 * {@link io.latentlab.lab.DenoiseTask}, {@link io.latentlab.lab.InpaintTask},
 * {@link io.latentlab.lab.AnomalyTask}, and for imported Stable Diffusion models
 * {@link io.latentlab.lab.ImportTask} and {@link io.latentlab.lab.SampleTask}) as typed requests
 * and results, each run with a
 * {@link io.latentlab.bridge.ProgressListener}; the sampling options they share
 * ({@link io.latentlab.lab.SamplingOptions}, ranges checked once); the run a task applies
 * ({@link io.latentlab.lab.ModelRun}: completed, with trained weights) and its stored results;
 * the RePaint loop, the ROC chart and the terminal progress bars both skins show.
 *
 * <p>It owns the checks of a request (a refusal is a one-line
 * {@link io.latentlab.lab.UsageException} naming the option and the fix) and the rules of what a
 * result is named and where it is written. It may call bridge, config, run, tensor and store;
 * never the command line or the JShell facade, nor picocli or JShell: those two skins sit side
 * by side over this package and only turn their input into requests and results into text
 * (LayeringTest checks it).
 */
package io.latentlab.lab;
