/**
 * The {@code latentlab} command line (picocli): each command turns its arguments into a request
 * of the library layer ({@code io.latentlab.lab}), calls the task, prints the result, and maps
 * what went wrong to an exit code (0 done, 1 failed, 2 usage, 3 running elsewhere; see
 * {@link io.latentlab.cli.Main}). The sampling options the model commands share are declared
 * once ({@link io.latentlab.cli.SamplingMixin}). It may call lab and the packages below it; never
 * the JShell facade, which sits beside it over lab (LayeringTest checks it).
 */
package io.latentlab.cli;
