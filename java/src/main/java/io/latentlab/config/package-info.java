/**
 * Experiment configs: {@link io.latentlab.config.ConfigLoader} reads strict, safe YAML into
 * records ({@link io.latentlab.config.ExperimentConfig} and its sections), applies
 * {@code extends:} and {@code key.path=value} overrides, migrates older formats
 * ({@link io.latentlab.config.ConfigFormat}), and writes the canonical JSON whose hash is the
 * trial id ({@link io.latentlab.config.TrialId}).
 *
 * <p>Owns: the experiment's structure and the Java copies of defaults that a config needs before
 * Python starts (each compared with Python's by OneSourceOfTruthTest). The model sections are
 * opaque here; Python checks them. It depends on no other LatentLab package (LayeringTest).
 */
package io.latentlab.config;
