package io.latentlab.lab;

import io.latentlab.bridge.ProgressListener;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress of Python's stages (vae, unet, sample, score, classifier, evaluate, denoise, anomaly),
 * shown as it suits where it goes:
 * <ul>
 *   <li>a terminal: one bar per stage, redrawn in place (the CLI's default);
 *   <li>a stream given to {@link #printingTo} (JShell): one bar per stage, redrawn with a
 *       carriage return, 80 columns;
 *   <li>a log (the process has no console: output redirected to a file, a sweep worker, a Slurm
 *       task, a notebook kernel): plain lines, one when a stage starts, then at most one every
 *       {@link #LOG_INTERVAL} and one when it ends (with the time since the stage began),
 *       never two stages interleaved; a sweep's own progress is a line per trial between them.
 * </ul>
 * Python reports step 0 of a stage before its first jitted call; until step 1 arrives the bar
 * says {@code compiling...}, and its clock restarts then, so rates and ETAs measure steps, not
 * XLA's compilation. Every bar names what it counts and the value it shows (a loss, an FID, an
 * AUROC). Used by both skins, the command line and the JShell facade. Close it when the work
 * ends.
 */
public final class ProgressBars implements ProgressListener, AutoCloseable {
  /** Columns of a bar printed to a stream: JShell cannot tell the terminal's width. */
  private static final int JSHELL_WIDTH = 80;
  /** The most often a log gets a line about one stage. */
  static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

  /**
   * What a stage counts and the name of the value it reports, one row per stage Python reports.
   *
   * @param label what the bar counts
   * @param value the name of the value that comes with an update, or null when none does
   */
  record Stage(String label, String value) {}

  static final Map<String, Stage> STAGES = Map.of(
      "vae", new Stage("train VAE (steps)", "loss"),
      "unet", new Stage("train U-Net (steps)", "loss"),
      "sample", new Stage("sample (steps)", null),
      "score", new Stage("sample and score", "FID"),
      "classifier", new Stage("train scoring classifier (steps)", "loss"),
      "evaluate", new Stage("evaluate (cells)", "FID"),
      "denoise", new Stage("denoise (batches)", null),
      "anomaly", new Stage("anomaly scores (scores)", "AUROC"));

  private final PrintStream stream;
  private final boolean log;
  private ProgressBar bar;
  private String stage;
  private boolean compiling;
  private long logged;
  private long startedAt;

  /**
   * The CLI's progress: bars on the process's own stderr (file descriptor 2) where it has a
   * console, plain log lines on {@code System.err} where it has none. Nothing shows until the
   * first progress report arrives.
   */
  public ProgressBars() {
    this(null, System.console() == null);
  }

  private ProgressBars(PrintStream stream, boolean log) {
    this.stream = stream;
    this.log = log;
  }

  /**
   * Bars printed to {@code stream}, one line each, redrawn with a carriage return and at most
   * 80 columns wide. For JShell, whose snippets run in a JVM whose file descriptor 2 does not
   * reach the user's terminal (the default bars print there), while {@code System.err} does.
   */
  public static ProgressBars printingTo(PrintStream stream) {
    return new ProgressBars(java.util.Objects.requireNonNull(stream, "stream"), false);
  }

  /** Plain log lines to {@code stream}, whatever the process's console. */
  static ProgressBars loggingTo(PrintStream stream) {
    return new ProgressBars(java.util.Objects.requireNonNull(stream, "stream"), true);
  }

  /** Whether this prints log lines (no console) rather than bars redrawn in place. */
  public boolean logs() {
    return log;
  }

  /** The row of a stage; one Python reports that is not in the table shows under its own name. */
  static Stage stage(String name) {
    return STAGES.getOrDefault(name, new Stage(name, "value"));
  }

  @Override
  public void update(String newStage, long step, long total, double value) {
    if (log) {
      logUpdate(newStage, step, total, value);
      return;
    }
    if (!newStage.equals(stage)) {
      close();
      stage = newStage;
      ProgressBarBuilder builder = new ProgressBarBuilder()
          .setTaskName(stage(newStage).label())
          .setInitialMax(total)
          .setStyle(ProgressBarStyle.ASCII)
          .setUpdateIntervalMillis(500);
      if (stream != null) {
        builder.setConsumer(new ConsoleProgressBarConsumer(stream, JSHELL_WIDTH));
      }
      bar = builder.build();
      compiling = step == 0;
      if (compiling) {
        bar.setExtraMessage("compiling...");
      }
    }
    if (compiling && step > 0) {
      compiling = false;
      bar.reset(); // the clock starts with the first compiled step
      bar.setExtraMessage("");
    }
    bar.stepTo(step);
    String shown = valueText(newStage, value);
    if (shown != null) {
      bar.setExtraMessage(shown);
    }
    if (step >= total) {
      close();
    }
  }

  /** E.g. {@code loss 0.1234}, or null when the update carries no value. */
  private static String valueText(String stageName, double value) {
    String name = stage(stageName).value();
    return name == null || Double.isNaN(value) ? null : String.format(Locale.ROOT, "%s %.4f", name, value);
  }

  private void logUpdate(String newStage, long step, long total, double value) {
    long now = System.nanoTime();
    boolean starts = !newStage.equals(stage);
    if (starts) {
      stage = newStage;
      startedAt = now; // the time shown: since the stage began, compilation included
    }
    boolean ends = step >= total;
    if (!starts && !ends && now - logged < LOG_INTERVAL.toNanos()) {
      return;
    }
    logged = now;
    StringBuilder line = new StringBuilder(stage(newStage).label()).append(": ")
        .append(step).append('/').append(total);
    if (total > 0) {
      line.append(String.format(Locale.ROOT, " (%d%%)", 100 * step / total));
    }
    String shown = valueText(newStage, value);
    if (shown != null) {
      line.append(", ").append(shown);
    }
    if (step == 0) {
      line.append(", compiling...");
    } else {
      line.append(String.format(Locale.ROOT, ", %.1f s", (now - startedAt) / 1e9));
    }
    PrintStream out = stream != null ? stream : System.err;
    out.println(line);
    out.flush();
    if (ends) {
      stage = null;
    }
  }

  /** Closes the current bar; the next update starts a new one, whatever its stage. */
  @Override
  public void close() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
    // Forgotten too: a sweep's next trial reports the same stage ("sample") from step 0 again.
    stage = null;
  }
}
