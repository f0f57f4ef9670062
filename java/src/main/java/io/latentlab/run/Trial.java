package io.latentlab.run;

import io.latentlab.config.ExperimentConfig;
import io.latentlab.config.TrialId;
import java.nio.file.Path;

/**
 * A config resolved and named, ready to run: what {@link TrialPlanner} returns and a
 * {@link TrialExecutor} runs. Planning one writes nothing.
 *
 * @param configFile the file it came from (named in error messages and in provenance)
 * @param config the resolved config (model sections filled in by Python)
 * @param canonicalJson its canonical form, what Python runs; the trial id hashes the part of
 *     it that changes results ({@link io.latentlab.config.ConfigLoader#identityJson})
 * @param id the trial id (config hash and replicate index)
 * @param directory where its run directory is, or will be
 */
public record Trial(Path configFile, ExperimentConfig config, String canonicalJson, TrialId id,
    Path directory) {}
