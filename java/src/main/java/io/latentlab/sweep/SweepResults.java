package io.latentlab.sweep;

import java.nio.file.Path;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The trials of a sweep with their states and metrics, in plan order: iterate, filter, pick
 * the best by a metric. For SQL over them, {@code latentlab query} has the view {@code sweeps}.
 *
 * @param plan the plan
 * @param directory the sweep directory
 * @param trials every trial's state
 */
public record SweepResults(SweepPlan plan, Path directory, List<TrialState> trials)
    implements Iterable<TrialState> {
  /** Copies the list. */
  public SweepResults {
    trials = List.copyOf(trials);
  }

  @Override
  public Iterator<TrialState> iterator() {
    return trials.iterator();
  }

  /** The trials that satisfy {@code test}. */
  public List<TrialState> filter(Predicate<TrialState> test) {
    return trials.stream().filter(test).toList();
  }

  /** The trials in a state ({@link TrialState#COMPLETED}, {@link TrialState#FAILED}, ...). */
  public List<TrialState> inState(String state) {
    return filter(t -> t.state().equals(state));
  }

  /**
   * The completed trial with the lowest (or highest) value of a numeric metric.
   *
   * @param lowest true for metrics where less is better (fid, loss)
   */
  public Optional<TrialState> best(String metric, boolean lowest) {
    Comparator<TrialState> byMetric = Comparator.comparingDouble(
        t -> ((Number) t.metrics().get(metric)).doubleValue());
    return inState(TrialState.COMPLETED).stream()
        .filter(t -> t.metrics().get(metric) instanceof Number)
        .min(lowest ? byMetric : byMetric.reversed());
  }

  @Override
  public String toString() {
    return String.format("Sweep %s: %d trials, %d completed, %d failed (%s)", plan.name(),
        trials.size(), inState(TrialState.COMPLETED).size(), inState(TrialState.FAILED).size(),
        directory);
  }
}
