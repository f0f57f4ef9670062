package io.latentlab.run;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.Map;

/**
 * What produced a run, written to its {@code provenance.json} when it starts and again when it
 * ends.
 *
 * @param experiment the config's name
 * @param trialId the full SHA-256 trial id
 * @param replicate the replicate index hashed into the trial id
 * @param configSha256 SHA-256 of the canonical resolved config alone
 * @param configFile the config file, relative to the project
 * @param git the commit and whether the checkout was dirty
 * @param java Java-side versions (java, latentlab, jep jar, arrow)
 * @param python Python-side versions, backend, devices and XLA flags, as Python reported them
 * @param data content hashes of the data files read, by name (the bundled data sets')
 * @param dataSource the data as it was opened: location, examples, fingerprint, classes and
 *     examples per class, image shape, files skipped (null in runs from before it was recorded)
 * @param startedAt when the run started
 * @param endedAt when it ended, or null while running
 * @param status {@code running}, {@code completed} or {@code failed}
 * @param error the failure's one-line description, or null
 * @param slurm the Slurm job the run ran in (job id, node list, task count, partition), or
 *     null outside Slurm
 */
public record Provenance(
    String experiment,
    String trialId,
    int replicate,
    String configSha256,
    String configFile,
    GitState git,
    Map<String, String> java,
    JsonNode python,
    Map<String, String> data,
    @JsonInclude(JsonInclude.Include.NON_NULL) DataSource dataSource,
    Instant startedAt,
    Instant endedAt,
    String status,
    String error,
    @JsonInclude(JsonInclude.Include.NON_NULL) Map<String, String> slurm) {

  /**
   * The Slurm job this process runs in, from the environment Slurm gives a job's processes.
   *
   * @return job id, nodes, tasks and partition; null outside a Slurm job
   */
  public static Map<String, String> slurmJob(Map<String, String> env) {
    if (env.get("SLURM_JOB_ID") == null) {
      return null;
    }
    Map<String, String> job = new java.util.TreeMap<>();
    job.put("job_id", env.get("SLURM_JOB_ID"));
    for (String[] key : new String[][] {{"SLURM_JOB_NODELIST", "nodes"},
        {"SLURM_NTASKS", "tasks"}, {"SLURM_JOB_PARTITION", "partition"},
        {"SLURM_RESTART_COUNT", "restarts"}}) {
      if (env.get(key[0]) != null) {
        job.put(key[1], env.get(key[0]));
      }
    }
    return job;
  }

  /** This record, ended now with a status (and an error for a failure). */
  public Provenance ended(String endStatus, String endError) {
    return new Provenance(experiment, trialId, replicate, configSha256, configFile, git, java,
        python, data, dataSource, startedAt, Instant.now(), endStatus, endError, slurm);
  }
}
