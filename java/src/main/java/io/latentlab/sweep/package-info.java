/**
 * Parameter sweeps: a sweep file ({@link io.latentlab.sweep.SweepSpec}) expands into a plan of
 * trials ({@link io.latentlab.sweep.SweepPlan}); executors run the pending ones (in this JVM,
 * in worker processes, or as a Slurm job array); {@link io.latentlab.sweep.SweepDirectory} holds
 * the plan, each trial's state and log, and the report.
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
