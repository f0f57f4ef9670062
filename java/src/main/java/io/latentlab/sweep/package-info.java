/**
 * Parameter sweeps, their definition and plan: a sweep file ({@link io.latentlab.sweep.SweepSpec},
 * read by {@link io.latentlab.sweep.SweepLoader}) expands into a plan of trials
 * ({@link io.latentlab.sweep.SweepPlan}, by {@link io.latentlab.sweep.SweepPlanner});
 * {@link io.latentlab.sweep.SweepDirectory} holds the plan, each trial's state
 * ({@link io.latentlab.sweep.TrialState}) and log, and the report;
 * {@link io.latentlab.sweep.SamplingTrials} defines a sampling trial's request, id and result
 * files; {@link io.latentlab.sweep.SweepResults} is the trials' states as a caller sees them.
 *
 * <h2>Packages</h2>
 * <ul>
 *   <li>{@code io.latentlab.sweep} (this one) owns what a sweep is and where its files are. It
 *       may call {@code config}, {@code run} (trial ids, run directories, constants) and
 *       {@code bridge} (Python's names of samplers, to check a plan); never the packages below.
 *   <li>{@code io.latentlab.sweep.execute} runs trials: in this JVM, in worker processes, and
 *       the one trial a {@code sweep-task} process runs. It may call this package,
 *       {@code io.latentlab.sweep.report} (to refresh the report as trials end), {@code run},
 *       {@code bridge}, {@code tensor}.
 *   <li>{@code io.latentlab.sweep.slurm} submits and watches Slurm job arrays. It may call this
 *       package and {@code io.latentlab.sweep.execute} (the executor contract, the task command,
 *       a trial's claim).
 *   <li>{@code io.latentlab.sweep.report} writes {@code report.md} and its charts from the
 *       state files. It may call this package only.
 * </ul>
 *
 * <h2>Two kinds of trial</h2>
 * <ul>
 *   <li>A <b>training trial</b> is a run ({@code base:} config + the trial's overrides): its id
 *       is the run's trial id, its results live in its run directory, so a trial shared by two
 *       sweeps, or already run alone, runs once.
 *   <li>A <b>sampling trial</b> samples and scores a completed run's checkpoint ({@code run:})
 *       with the trial's {@code sample.*} settings: its id is the first 12 hex digits of the
 *       SHA-256 of the run's full trial id and the canonical JSON of its resolved sampling
 *       request; its result is {@code <run>/sampling/<trial>.json} (and a preview
 *       {@code <run>/sampling/<trial>.png}), written atomically, the JSON last.
 * </ul>
 *
 * <h2>The sweep directory, {@code <runs>/sweeps/<name>-<plan hash>/}</h2>
 * <pre>
 * sweep.yaml          the sweep file as given
 * plan.json           the expanded plan (see SweepPlan#toJson): name, kind, run or base,
 *                     axes, evaluate, slurm, and trials [{index, trial, axes, overrides,
 *                     replicate, directory}]
 * trials/&lt;trial&gt;.json the trial's state, written atomically by whoever runs it:
 *                     {"sweep", "trial", "index", "kind", "state": pending|running|completed|
 *                     failed, "error", "attempts", "updated_at", "axes": {column: value},
 *                     "metrics": {name: number}}; axis columns are the key path's last
 *                     component (sample.sampler → sampler), or the whole path with '_' where
 *                     two axes share a last component
 * logs/&lt;trial&gt;.log    what the trial printed (worker processes and Slurm tasks)
 * report.md, plots/   the report (refreshed as trials finish)
 * </pre>
 * The plan hash is the first 12 hex digits of the SHA-256 of the canonical plan (trial ids in
 * order), so the same sweep file always finds its own directory and its finished trials.
 */
package io.latentlab.sweep;
