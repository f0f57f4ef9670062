/**
 * Queries over runs: {@link io.latentlab.store.RunStore} opens DuckDB views over the run files
 * themselves (runs, provenance, results, metrics, sweeps), confined to the runs folder and
 * read-only; {@link io.latentlab.store.Table} is a query's result.
 *
 * <p>Owns: the views and the confinement of a connection; the run directories stay the only
 * copy of what happened. May call run (file names) and sweep (the sweep directories' layout)
 * only (LayeringTest).
 */
package io.latentlab.store;
