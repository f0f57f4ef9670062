/**
 * A sweep's report: {@link io.latentlab.sweep.report.SweepReport} writes {@code report.md} and
 * its charts under {@code plots/} in the sweep directory from the trial states written so far
 * (refreshed as trials end).
 *
 * <p>Owns: the report's wording, its charts and the picture grid of previews. May call only
 * {@code io.latentlab.sweep} (plan, directory, states, where a sampling trial's preview is); it
 * never runs a trial.
 */
package io.latentlab.sweep.report;
