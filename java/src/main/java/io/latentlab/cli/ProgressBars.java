package io.latentlab.cli;

import io.latentlab.bridge.ProgressListener;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * One terminal progress bar per stage (vae, unet, sample, classifier, evaluate), fed from Python.
 * Python reports step 0 of a stage before its first jitted call; until step 1 arrives the bar
 * says {@code compiling...}, and its clock restarts then, so rates and ETAs measure steps, not
 * XLA's compilation.
 */
final class ProgressBars implements ProgressListener, AutoCloseable {
  private ProgressBar bar;
  private String stage;
  private boolean compiling;

  @Override
  public void update(String newStage, long step, long total, double loss) {
    if (!newStage.equals(stage)) {
      close();
      stage = newStage;
      bar = new ProgressBarBuilder()
          .setTaskName(label(newStage))
          .setInitialMax(total)
          .setStyle(ProgressBarStyle.ASCII)
          .setUpdateIntervalMillis(500)
          .build();
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

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
      bar = null;
    }
  }
}
