package io.latentlab.config;

import java.net.URI;
import java.net.URISyntaxException;

/**
 * Where a run is tracked besides its own directory (TensorBoard's event files are always
 * written there). Not in the trial id: tracking changes no result.
 *
 * @param mlflow an MLflow tracking server ({@code http://host:5000}, {@code https://...}), or
 *     null: then MLflow's own {@code MLFLOW_TRACKING_URI}, if set, names it. Credentials come
 *     only from MLflow's environment variables ({@code MLFLOW_TRACKING_USERNAME} and
 *     {@code MLFLOW_TRACKING_PASSWORD}, or {@code MLFLOW_TRACKING_TOKEN}), so an address with a
 *     user name or password is refused: configs are recorded in every run
 * @param previews U-Net steps between two preview grids of samples in the run's TensorBoard
 *     events (drawn from the EMA weights with the run's sampling settings), or null for none
 */
public record TrackingConfig(String mlflow, Integer previews) {
  /** Checks the address and the preview interval. */
  public TrackingConfig {
    if (previews != null && previews < 1) {
      throw new IllegalArgumentException("tracking.previews: must be a number of U-Net steps "
          + ">= 1, got " + previews + "; leave it out for no previews");
    }
    if (mlflow != null) {
      mlflow = mlflow.strip();
      URI uri;
      try {
        uri = new URI(mlflow);
      } catch (URISyntaxException e) {
        throw new IllegalArgumentException("tracking.mlflow: '" + mlflow
            + "' is not an address; give e.g. 'http://mlflow.example.org:5000'");
      }
      if (uri.getRawUserInfo() != null) {
        throw new IllegalArgumentException("tracking.mlflow: the address holds a user name or "
            + "password; remove it and set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
            + "(or MLFLOW_TRACKING_TOKEN) in the environment instead: configs are recorded in "
            + "every run");
      }
      if (uri.getScheme() == null) {
        throw new IllegalArgumentException("tracking.mlflow: '" + mlflow + "' has no scheme; "
            + "give e.g. 'http://mlflow.example.org:5000'");
      }
    }
  }
}
