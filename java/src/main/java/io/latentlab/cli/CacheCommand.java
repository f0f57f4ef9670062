package io.latentlab.cli;

import io.latentlab.bridge.PythonException;
import io.latentlab.lab.LatentCaches;
import io.latentlab.lab.UsageException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code latentlab cache list | remove NAME | remove --all}: the VAE latent caches. */
@Command(
    name = "cache",
    mixinStandardHelpOptions = true,
    header = "Lists and removes the VAE latent caches in .cache/latents/.",
    description = {
        "Training encodes a data set with the frozen VAE once and keeps the latents (the "
            + "posterior's mean and log-variance) in an Arrow IPC file under .cache/latents/, "
            + "named by the VAE weights' hash, the data's fingerprint and the preprocessing; "
            + "every trial and sweep with the same VAE and data reads it. A cache is only ever "
            + "an optimisation: a removed one is encoded again when next needed.",
        "A cache that a running trial uses is never removed."},
    subcommands = {CacheCommand.List.class, CacheCommand.Remove.class},
    footer = {"", "Examples:",
        "  ./latentlab cache list",
        "  ./latentlab cache remove 3f2a9c1e0b7d-e41c2f9a8b33.arrow",
        "  ./latentlab cache remove --all"})
final class CacheCommand implements Runnable {
  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: list or remove");
  }

  /** {@code cache list}. */
  @Command(name = "list", mixinStandardHelpOptions = true,
      description = "Prints each cache: name, size, examples, VAE hash, data fingerprint, and whether a running trial uses it.")
  static final class List implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      CommandLine cli = spec.commandLine();
      java.util.List<LatentCaches.Entry> entries;
      try {
        entries = new LatentCaches(Main.home()).list();
      } catch (PythonException e) {
        return Main.failed(cli, "listing the caches", e);
      }
      PrintWriter out = cli.getOut();
      if (entries.isEmpty()) {
        out.println("no latent caches in " + LatentCaches.FOLDER);
      } else {
        int width = entries.stream().mapToInt(e -> e.name().length()).max().orElse(4);
        out.printf("%-" + width + "s  %9s  %8s  %-12s  %-12s  %s%n", "name", "size", "examples", "vae", "data", "in use");
        for (LatentCaches.Entry e : entries) {
          out.printf("%-" + width + "s  %9s  %8d  %-12s  %-12s  %s%n", e.name(), LatentCaches.size(e.bytes()),
              e.examples(), abbreviate(e.vae()), abbreviate(e.fingerprint()), e.inUse() ? "yes" : "no");
        }
        out.printf("%d cache%s, %s in %s%n", entries.size(), entries.size() == 1 ? "" : "s",
            LatentCaches.size(entries.stream().mapToLong(LatentCaches.Entry::bytes).sum()), LatentCaches.FOLDER);
      }
      out.flush();
      return 0;
    }

    private static String abbreviate(String hash) {
      return hash.length() > 12 ? hash.substring(0, 12) : hash;
    }
  }

  /** {@code cache remove NAME | --all}. */
  @Command(name = "remove", mixinStandardHelpOptions = true,
      description = {"Removes the cache NAME (as 'cache list' prints it), or with --all every cache "
          + "no running trial uses. A cache in use is kept and said so; naming one is refused (exit 2)."})
  static final class Remove implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "NAME", description = "the cache's file name")
    String name;

    @Option(names = "--all", description = "remove every cache not in use")
    boolean all;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      CommandLine cli = spec.commandLine();
      if ((name == null) == !all) {
        throw new UsageException("give either a cache NAME or --all");
      }
      LatentCaches.Removal removal;
      try {
        removal = new LatentCaches(Main.home()).remove(all ? null : name);
      } catch (PythonException e) {
        return Main.failed(cli, "removing the cache", e);
      }
      PrintWriter out = cli.getOut();
      removal.removed().forEach(e -> out.println("removed " + e.name() + " (" + LatentCaches.size(e.bytes()) + ")"));
      removal.kept().forEach(e -> out.println("kept " + e.name() + ": a running trial uses it"));
      out.printf("%d removed, %s freed%s%n", removal.removed().size(), LatentCaches.size(removal.bytes()),
          removal.kept().isEmpty() ? "" : ", " + removal.kept().size() + " in use kept");
      out.flush();
      return 0;
    }
  }
}
