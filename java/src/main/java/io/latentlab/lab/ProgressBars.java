package io.latentlab.lab;

import io.latentlab.bridge.ProgressListener;
import java.io.PrintStream;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * One terminal progress bar per stage (vae, unet, sample, classifier, evaluate), fed from Python.
 * Python reports step 0 of a stage before its first jitted call; until step 1 arrives the bar
 * says {@code compiling...}, and its clock restarts then, so rates and ETAs measure steps, not
 * XLA's compilation. Used by both skins, the command line and the JShell facade.
 * Close it when the work ends.
 */
public final class ProgressBars implements ProgressListener, AutoCloseable {
  /** Columns of a bar printed to a stream: JShell cannot tell the terminal's width. */
  private static final int JSHELL_WIDTH = 80;
  private ProgressBar bar;
  private String stage;
  private boolean compiling;
  private final PrintStream stream;

  /**
   * Bars on the process's own stderr (file descriptor 2), redrawn in place where the terminal
   * can move its cursor: the CLI's. No bar shows until the first progress report arrives.
   */
  public ProgressBars() {
    this.stream = null;
  }

  private ProgressBars(PrintStream stream) {
    this.stream = stream;
  }

  /**
   * Bars printed to {@code stream}, one line each, redrawn with a carriage return and at most
   * 80 columns wide. For JShell, whose snippets run in a JVM whose file descriptor 2 does not
   * reach the user's terminal (the default bars print there), while {@code System.err} does.
   */
  public static ProgressBars printingTo(PrintStream stream) {
    return new ProgressBars(java.util.Objects.requireNonNull(stream, "stream"));
  }

  @Override
  public void update(String newStage, long step, long total, double loss) {
    if (!newStage.equals(stage)) {
      close();
      stage = newStage;
      ProgressBarBuilder builder = new ProgressBarBuilder()
          .setTaskName(label(newStage))
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
    if (!Double.isNaN(loss)) {
      // The value a stage reports: a training loss, or the FID of the last evaluated cell.
      String name = switch (stage) {
        case "evaluate" -> "FID";
        case "anomaly" -> "AUROC";
        default -> "loss";
      };
      bar.setExtraMessage(String.format(Locale.ROOT, "%s %.4f", name, loss));
    }
    if (step >= total) {
      close();
    }
  }

  private static String label(String stage) {
    return switch (stage) {
      case "vae" -> "train VAE ";
      case "unet" -> "train U-Net";
      case "sample" -> "sample    ";
      case "classifier" -> "train classifier";
      case "evaluate" -> "evaluate  ";
      case "denoise" -> "denoise   ";
      case "anomaly" -> "anomaly scores";
      default -> stage;
    };
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
