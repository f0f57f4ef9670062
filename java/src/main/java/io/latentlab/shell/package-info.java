/**
 * LatentLab in JShell: {@link io.latentlab.shell.Lab}, the facade that {@code ./latentlab shell}
 * binds as {@code lab}, and the values it hands out ({@link io.latentlab.shell.Config},
 * {@link io.latentlab.shell.Run}, {@link io.latentlab.shell.SamplerBuilder},
 * {@link io.latentlab.shell.Sampling}, the task builders such as
 * {@link io.latentlab.shell.DenoiseBuilder} and their {@link io.latentlab.shell.ModelResult}).
 * Each prints as one readable line, and each failure is a one-line
 * {@link io.latentlab.shell.LabException}. The logic stays in the packages it calls (lab for the
 * model tasks; config, run, store, sweep, tensor); this package only arranges them for a REPL.
 * It never calls the command line, which sits beside it over lab (LayeringTest checks it).
 */
package io.latentlab.shell;
