package io.latentlab.shell;

import io.latentlab.bridge.PythonBridge;
import io.latentlab.bridge.PythonEnvironment;
import io.latentlab.bridge.PythonException;
import io.latentlab.bridge.ProgressListener;
import io.latentlab.config.ConfigException;
import io.latentlab.lab.ProgressBars;
import io.latentlab.lab.TaskResult;
import io.latentlab.lab.UsageException;
import io.latentlab.run.RunDirectory;
import io.latentlab.run.RunResult;
import io.latentlab.run.Trial;
import io.latentlab.run.TrialExecutor;
import io.latentlab.run.TrialPlanner;
import io.latentlab.store.RunStore;
import io.latentlab.store.Table;
import io.latentlab.sweep.SweepPlan;
import io.latentlab.sweep.SweepResults;
import io.latentlab.sweep.TrialState;
import io.latentlab.sweep.execute.Sweep;
import io.latentlab.sweep.execute.SweepExecutor;
import io.latentlab.sweep.execute.SweepExecutors;
import io.latentlab.sweep.execute.SweepRunner;
import io.latentlab.tensor.Images;
import io.latentlab.tensor.Tensor;
import io.latentlab.tensor.TensorScope;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;
import javax.imageio.ImageIO;

/**
 * LatentLab from JShell: the one object a session needs. {@code ./latentlab shell} binds it as
 * {@code lab}; {@code lab.help()} lists what it does.
 *
 * <pre>{@code
 * var run = lab.run(lab.config("experiments/quickstart.yaml").set("train.unet.steps", 200));
 * var s = lab.sampler(run).sampler("dpmpp_2m").steps(20).guidance(3).labels(0, 1, 2).open();
 * s.step(5); s.x0(); s.save("x0-at-step-5.png");
 * }</pre>
 *
 * <p>Python starts on first use (training, sampling, {@link #python}), not when the shell
 * starts, and says so in one line. Everything that fails throws a one-line {@link LabException}
 * (a config mistake names its file and key; a Python error its type and message), so the
 * session goes on; {@link #verbose verbose(true)} shows Python tracebacks and Java stack traces
 * instead. No method takes {@code null}.
 *
 * <p>Tensors handed out belong to a {@link TensorScope}: the lab's own, closed with the lab, or
 * one from {@link #scope()} for try-with-resources. Use from one thread (JShell's).
 */
public final class Lab implements AutoCloseable {
  /** What {@link #help()} prints: each public method and what it does, in one line. */
  private static final Map<String, String> HELP = help(
      "config(file)", "an experiment config; .set(\"train.unet.steps\", 200) returns a changed copy",
      "run(config)", "trains and samples one trial, with progress bars; returns its Run",
      "run(file)", "the same for a config file as it is",
      "rerun(config)", "runs a completed trial again (the earlier directory is kept aside)",
      "runs()", "prints the runs as a table and returns it",
      "runs(experiment)", "the same for one experiment",
      "show(run)", "prints one run (trial id prefix or directory) and returns it",
      "query(sql)", "prints a SQL query over the runs (views runs, provenance, results, metrics, sweeps)",
      "sampler(run)", "a stepwise sampler on a run's checkpoint: .steps(20).guidance(3).labels(0, 1).open()",
      "evaluate(run)", "FID beside its floor, conditional accuracy: .sampler(\"heun\").steps(10).samples(500).run()",
      "denoise(run)", "denoising beside classical denoisers: .noiseSigmas(0.1, 0.3).heldout(50).run()",
      "inpaint(run)", "inpainting through the sampler: .mask(\"center\").resample(2).run()",
      "anomaly(run)", "anomaly scores and AUROC: .timesteps(100, 400).perGroup(300).run()",
      "data(config)", "a config's data before training: size, classes, counts, fingerprint; .picture() per class",
      "data(file)", "the same for a config file as it is",
      "latents(run)", "a run's VAE latent cache as tensors over the mapped file: .mean(), .logvar()",
      "caches()", "prints the latent caches in .cache/latents/ and returns them",
      "sweep(file)", "runs a sweep file in this JVM and returns its results",
      "sweep(sweep)", "runs a sweep built with Sweep.sampling(run)..., Sweep.training(file)... or Sweep.prompts(model)...",
      "tensorboard()", "TensorBoard over the runs' events on a free local port; prints its address, .close() stops it",
      "importModel(path)", "imports Stable Diffusion weights (a diffusers folder or .safetensors) into models/",
      "importModel(path, name)", "the same under another name",
      "models()", "the imported models' names",
      "model(name)", "an imported model: .steps(25).seed(7).sample(\"a prompt\", ...); .picture() shows them",
      "python(expression)", "evaluates Python in the embedded interpreter and returns its repr",
      "tensor(shape, values)", "a float32 tensor of the lab's scope (e.g. for setLatents)",
      "save(images, file)", "writes images [N, H, W, 1 or 3] as a PNG grid and prints the path",
      "scope()", "a child tensor scope: try (var scope = lab.scope()) { ... }",
      "home()", "the project folder",
      "runsDir()", "where runs are (runs/ in the project)",
      "runsDir(dir)", "uses another runs folder",
      "verbose(on)", "true: Python tracebacks and Java stack traces for errors",
      "bridge()", "the embedded Python (PythonBridge), started on first use",
      "help()", "this list");

  private final Path home;
  private Path runsDir;
  private boolean verbose;
  private PythonBridge bridge;
  private TensorScope scope;

  private Lab(Path home) {
    this.home = home;
    this.runsDir = home.resolve("runs");
  }

  /**
   * The lab of the project that {@link PythonEnvironment#discoverHome()} finds (the
   * {@code latentlab.home} property, which {@code ./latentlab shell} sets). Starts nothing.
   *
   * @throws IllegalStateException in one line if there is no project
   */
  public static Lab open() {
    return open(PythonEnvironment.discoverHome());
  }

  /** The lab of the project at {@code home}. Starts nothing. */
  public static Lab open(Path home) {
    return new Lab(home.toAbsolutePath().normalize());
  }

  private static Map<String, String> help(String... pairs) {
    Map<String, String> lines = new LinkedHashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      lines.put(pairs[i], pairs[i + 1]);
    }
    return java.util.Collections.unmodifiableMap(lines);
  }

  /** Prints every method of {@code lab} with what it does. */
  public void help() {
    int width = HELP.keySet().stream().mapToInt(String::length).max().orElse(0);
    StringBuilder text = new StringBuilder("lab: LatentLab in JShell (project " + home + ")\n");
    HELP.forEach((method, line) ->
        text.append(String.format("  lab.%-" + width + "s  %s%n", method, line)));
    text.append("A sampler session: step(), step(n), finish(), latents(), x0(), setLatents(t), rewind(t), "
        + "decode(), save(file), close().\n");
    System.out.print(text);
    System.out.flush();
  }

  /** The methods {@link #help()} lists, as it spells them (for tests that keep it complete). */
  static Set<String> helpEntries() {
    return HELP.keySet();
  }

  /** The project root. */
  public Path home() {
    return home;
  }

  /** Where runs are read and written: {@code runs/} in the project unless changed. */
  public Path runsDir() {
    return runsDir;
  }

  /**
   * Reads and writes runs under another folder (created when a run starts).
   *
   * @return the folder, absolute
   */
  public Path runsDir(String dir) {
    return guard(() -> {
      runsDir = Path.of(Objects.requireNonNull(dir, "dir: give a folder")).toAbsolutePath().normalize();
      return runsDir;
    });
  }

  /**
   * Starts TensorBoard over the runs folder's event files (every training run writes them) on
   * a free local port, as {@code ./latentlab tensorboard} does, and prints its address.
   *
   * @return the server; {@code close()} stops it (so does the JVM's exit)
   */
  public io.latentlab.lab.TensorBoardServer tensorboard() {
    return guard(() -> {
      io.latentlab.lab.TensorBoardServer server = io.latentlab.lab.TensorBoardServer.start(
          home, runsDir, runsDir.resolve(".tensorboard.log"));
      System.out.println("TensorBoard: " + server.address());
      return server;
    });
  }

  /** Whether errors show Python tracebacks and Java stack traces (off: one line). */
  public void verbose(boolean on) {
    verbose = on;
  }

  /**
   * The JVM's embedded Python, started on first use (it says so in one line).
   *
   * @throws LabException in one line if the environment is missing
   */
  public PythonBridge bridge() {
    return guard(this::python);
  }

  private PythonBridge python() {
    if (bridge == null) {
      System.out.println("starting Python (JAX) in this JVM for this session...");
      System.out.flush();
      bridge = PythonBridge.start(home);
    }
    return bridge;
  }

  /** The lab's own tensor scope, created on first use; closed by {@link #close()}. */
  TensorScope ownScope() {
    if (scope == null || scope.isClosed()) {
      scope = TensorScope.root();
    }
    return scope;
  }

  /**
   * A new child of the lab's tensor scope: tensors made in it, or attached to it, are closed
   * with it.
   *
   * <pre>{@code try (var scope = lab.scope()) { var z = scope.zeros(4, 8, 8, 4); ... }}</pre>
   */
  public TensorScope scope() {
    return guard(() -> ownScope().child());
  }

  /**
   * A float32 tensor holding a copy of {@code values}, owned by the lab's scope.
   *
   * @param shape {@code [B, d1, ..., dn]}
   * @throws LabException if the shape and the number of values differ
   */
  public Tensor tensor(long[] shape, float[] values) {
    return guard(() -> ownScope().ofFloats(Objects.requireNonNull(shape, "shape"),
        Objects.requireNonNull(values, "values")));
  }

  /**
   * An experiment config, checked now. A relative path is looked up in the working directory,
   * then in the project.
   *
   * @throws LabException in one line naming the file, the key and what is allowed
   */
  public Config config(String file) {
    return guard(() -> Config.load(this, resolve(file), List.of()));
  }

  /**
   * Trains and samples a config's trial in this JVM, with a progress bar per stage, as
   * {@code latentlab run} does; a trial that already completed is read, not rerun.
   *
   * @return the run (its {@code toString} is one line)
   * @throws LabException in one line: a refused config, a failed run (its directory keeps what
   *     was written), a trial running in another process
   */
  public Run run(Config config) {
    return guard(() -> execute(Objects.requireNonNull(config, "config: give lab.config(file)"), false));
  }

  /** {@link #run(Config)} for a config file as it is. */
  public Run run(String file) {
    return guard(() -> execute(Config.load(this, resolve(file), List.of()), false));
  }

  /**
   * Runs a trial again even if it completed; the earlier run directory is kept as
   * {@code <trial>.replaced-<time>}.
   */
  public Run rerun(Config config) {
    return guard(() -> execute(Objects.requireNonNull(config, "config: give lab.config(file)"), true));
  }

  private Run execute(Config config, boolean rerun) {
    PythonBridge python = python();
    Trial trial = new TrialPlanner(runsDir, python).plan(config.file(), config.experiment(), 0);
    System.out.printf("experiment %s, trial %s%n", trial.config().name(), trial.id().shortId());
    System.out.flush();
    RunResult result;
    try (ProgressBars bars = ProgressBars.printingTo(System.err)) {
      result = TrialExecutor.inProcess(home, python).execute(trial, bars, rerun);
    } catch (PythonException e) {
      if (verbose) {
        throw e;
      }
      throw new LabException("run failed: " + oneLine(e) + "; the run directory keeps what was written: "
          + display(trial.directory()));
    }
    return Run.read(this, result.directory(), result.reused());
  }

  /** Prints every run (not those a rerun replaced) as a table, oldest first, and returns it. */
  public Table runs() {
    return guard(() -> print(withStore(store -> store.runs(null, null))));
  }

  /** Prints the runs of one experiment as a table and returns it. */
  public Table runs(String experiment) {
    return guard(() -> print(withStore(store -> store.runs(
        Objects.requireNonNull(experiment, "experiment: give its name"), null))));
  }

  /**
   * Prints a SQL query over the run files (DuckDB; read-only) as a table and returns it. Views:
   * {@code runs}, {@code provenance}, {@code results}, {@code metrics}, {@code sweeps}.
   *
   * @throws LabException in one line if the SQL is wrong or is not a query
   */
  public Table query(String sql) {
    return guard(() -> print(withStore(store -> store.query(Objects.requireNonNull(sql, "sql")))));
  }

  /**
   * Prints one run: its row of {@code runs} as a two-column table, then returns it.
   *
   * @param run a trial id prefix (4+ hex digits) or a run directory
   * @throws LabException in one line if it names no run or several
   */
  public Run show(String run) {
    return guard(() -> {
      Path directory = RunDirectory.find(runsDir, Objects.requireNonNull(run, "run: give a trial id"));
      Table row = withStore(store -> store.query("SELECT * FROM runs WHERE path = '"
          + directory.toString().replace("'", "''") + "'"));
      List<List<Object>> fields = new ArrayList<>();
      if (!row.rows().isEmpty()) {
        for (int i = 0; i < row.columns().size(); i++) {
          fields.add(java.util.Arrays.asList(row.columns().get(i), row.rows().get(0).get(i)));
        }
      }
      Run found = Run.read(this, directory, false);
      found.metrics().forEach((name, value) -> fields.add(List.of("metrics." + name, value)));
      print(new Table(List.of("field", "value"), fields));
      return found;
    });
  }

  /**
   * A stepwise sampler on a completed run's checkpoint. It starts from the run's own sampling
   * settings (sampler, steps, guidance, seed, labels), so {@code open()} and
   * {@code finish()} reproduce the run's samples; change any of them on the builder.
   */
  public SamplerBuilder sampler(Run run) {
    return guard(() -> SamplerBuilder.of(this, Objects.requireNonNull(run, "run: give a Run (lab.show(id))")));
  }

  /** {@link #sampler(Run)} for a run named by a trial id prefix or a directory. */
  public SamplerBuilder sampler(String run) {
    return guard(() -> SamplerBuilder.of(this, Run.read(this,
        RunDirectory.find(runsDir, Objects.requireNonNull(run, "run: give a trial id")), false)));
  }

  /**
   * Scores a completed run's model as {@code ./latentlab evaluate RUN} does (same options, same
   * evaluation file): {@code lab.evaluate(run).sampler("heun").steps(10).samples(500).run()}.
   * Sampling settings left unset are the run's own.
   */
  public EvaluateBuilder evaluate(Run run) {
    return guard(() -> new EvaluateBuilder(this, Objects.requireNonNull(run, "run: give a Run (lab.show(id))")));
  }

  /**
   * Denoises digits with a run's model beside classical denoisers, as {@code ./latentlab
   * denoise} does (same settings, same stored result), and prints its table:
   * {@code lab.denoise(run).noiseSigmas(0.1, 0.3).heldout(50).run()}.
   */
  public DenoiseBuilder denoise(Run run) {
    return guard(() -> new DenoiseBuilder(this, Objects.requireNonNull(run, "run: give a Run (lab.show(id))")));
  }

  /**
   * Inpaints masked held-out digits by replacing the known latents at every sampler step, as
   * {@code ./latentlab inpaint}: {@code lab.inpaint(run).mask("left-half").run()}.
   */
  public InpaintBuilder inpaint(Run run) {
    return guard(() -> new InpaintBuilder(this, Objects.requireNonNull(run, "run: give a Run (lab.show(id))")));
  }

  /**
   * Scores held-out normal and unseen-class digits of a run trained on some classes, as
   * {@code ./latentlab anomaly}: AUROC per score beside the VAE baseline,
   * {@code lab.anomaly(run).run()}.
   */
  public AnomalyBuilder anomaly(Run run) {
    return guard(() -> new AnomalyBuilder(this, Objects.requireNonNull(run, "run: give a Run (lab.show(id))")));
  }

  /**
   * Runs a model task with progress bars on {@code System.err}; a refused setting becomes a
   * {@link LabException} {@code "<kind>: <what is wrong>"}. Call inside {@link #guard}.
   */
  <T> T runTask(String kind, java.util.function.Function<ProgressListener, T> task) {
    python();
    try (ProgressBars bars = ProgressBars.printingTo(System.err)) {
      return task.apply(bars);
    } catch (UsageException e) {
      throw new LabException(kind + ": " + e.getMessage());
    }
  }

  /** {@link #runTask(String, java.util.function.Function)}, then prints the result's text and wraps it. */
  ModelResult runTask(String kind, java.util.function.Function<ProgressListener, TaskResult> task,
      java.util.function.Function<TaskResult, String> text) {
    TaskResult result = runTask(kind, task);
    System.out.print(text.apply(result));
    System.out.flush();
    return ModelResult.of(this, result);
  }

  /**
   * Runs a sweep file in this JVM under {@link #runsDir()}, printing each trial as it ends and
   * then the results as a table. Completed trials are not run again.
   *
   * @throws LabException in one line for a bad sweep file
   */
  public SweepResults sweep(String file) {
    return guard(() -> runSweep(Sweep.load(resolve(file))));
  }

  /**
   * Runs a sweep built in Java, e.g.
   * {@code lab.sweep(Sweep.sampling(run.trialId()).grid("sample.steps", List.of(5, 10)).build())}.
   */
  public SweepResults sweep(Sweep sweep) {
    return guard(() -> runSweep(Objects.requireNonNull(sweep, "sweep: give Sweep.load(file) or a built one")));
  }

  private SweepResults runSweep(Sweep sweep) {
    PythonBridge python = python();
    SweepRunner runner = new SweepRunner(home, runsDir, python);
    SweepPlan plan = runner.plan(sweep.spec());
    System.out.printf("sweep %s: %d trials%n", plan.name(), plan.trials().size());
    SweepResults results;
    try (ProgressBars bars = ProgressBars.printingTo(System.err)) {
      results = runner.run(plan, SweepExecutors.local(home, python), false,
          new SweepExecutor.SweepProgress() {
            @Override
            public void ended(SweepPlan.PlannedTrial trial, TrialState state) {
              bars.close();
              System.out.printf("trial %s %s %s%s%n", trial.trial(), trial.axes(), state.state(),
                  state.error() == null ? "" : ": " + state.error());
            }

            @Override
            public void skipped(SweepPlan.PlannedTrial trial, String reason) {
              System.out.printf("trial %s skipped: %s%n", trial.trial(), reason);
            }

            @Override
            public void step(String stage, long step, long total, double value) {
              bars.update(stage, step, total, value);
            }
          });
    }
    print(sweepTable(results));
    return results;
  }

  /** One row per trial: id, state, axis columns, metrics. */
  static Table sweepTable(SweepResults results) {
    Set<String> axes = new LinkedHashSet<>();
    Set<String> metrics = new LinkedHashSet<>();
    for (TrialState trial : results) {
      axes.addAll(trial.axes().keySet());
      metrics.addAll(trial.metrics().keySet());
    }
    List<String> columns = new ArrayList<>(List.of("trial", "state"));
    columns.addAll(axes);
    columns.addAll(metrics);
    List<List<Object>> rows = new ArrayList<>();
    for (TrialState trial : results) {
      List<Object> row = new ArrayList<>(List.of(trial.trial(), trial.state()));
      axes.forEach(axis -> row.add(trial.axes().get(axis)));
      metrics.forEach(metric -> row.add(trial.metrics().get(metric)));
      rows.add(row);
    }
    return new Table(columns, rows);
  }

  /**
   * Evaluates Python in the embedded interpreter and returns the {@code repr} of its value
   * ({@code ""} for a statement such as {@code x = 1}). Names persist between calls; {@code jax},
   * {@code jnp} and {@code np} are there from the start.
   *
   * @throws LabException in one line, {@code Type: message}, if Python raised
   */
  public String python(String source) {
    return guard(() -> python().callForString("repl_evaluate",
        Objects.requireNonNull(source, "give Python source, e.g. lab.python(\"1 + 1\")")));
  }

  /**
   * Imports Stable Diffusion weights as {@code ./latentlab import PATH} does: a diffusers folder,
   * one {@code .safetensors} checkpoint beside its diffusers configs, or one component; the model
   * is named by the source's file name. Prints what was imported and returns it.
   *
   * @throws LabException in one line for anything refused (not a model, a pickle checkpoint,
   *     missing or unexpected tensors, a name already taken by other weights)
   */
  public io.latentlab.lab.ImportTask.Result importModel(String path) {
    return importModel(path, null);
  }

  /** {@link #importModel(String)} under {@code name} ({@code --name}). */
  public io.latentlab.lab.ImportTask.Result importModel(String path, String name) {
    return guard(() -> {
      io.latentlab.lab.ImportTask.Request request = new io.latentlab.lab.ImportTask.Request(
          resolve(Objects.requireNonNull(path, "path: give a model folder or .safetensors file")),
          name, null);
      io.latentlab.lab.ImportTask.Result result = runTask(io.latentlab.lab.ImportTask.KIND,
          bars -> new io.latentlab.lab.ImportTask(home).run(request, bars));
      System.out.print(result.text());
      System.out.flush();
      return result;
    });
  }

  /** The names of the models imported into {@code models/}, sorted. */
  public List<String> models() {
    return io.latentlab.lab.SampleTask.importedModels(home);
  }

  /**
   * An imported model to sample prompts from: {@code lab.model("sd15").sample("a prompt")}.
   *
   * @throws LabException in one line if no model of that name was imported
   */
  public TextModel model(String name) {
    return guard(() -> {
      try {
        new io.latentlab.lab.SampleTask(home, runsDir).modelFolder(
            Objects.requireNonNull(name, "name: give an imported model's name"));
      } catch (io.latentlab.lab.UsageException e) {
        throw new LabException(e.getMessage());
      }
      return new TextModel(this, name);
    });
  }

  /**
   * Looks at a config's data as {@code ./latentlab data} does: prints its size, classes and
   * examples per class, image shape and fingerprint, writes a grid of preprocessed training
   * images per class in {@code .cache/data-preview/<experiment>/}, and returns them (a
   * notebook shows {@code .picture()} inline). Nothing is trained.
   *
   * @throws LabException in one line naming the file and key, or the bad data file
   */
  public DataView data(Config config) {
    return guard(() -> data(Objects.requireNonNull(config, "config: give lab.config(file)").file(),
        config.overrides()));
  }

  /** {@link #data(Config)} for a config file as it is. */
  public DataView data(String file) {
    return guard(() -> data(resolve(file), List.of()));
  }

  private DataView data(Path file, List<String> overrides) {
    python();
    DataView view = new DataView(new io.latentlab.lab.DataTask(home)
        .run(new io.latentlab.lab.DataTask.Request(file, overrides, null), ProgressListener.NONE));
    System.out.print(view);
    System.out.flush();
    return view;
  }

  /**
   * A run's VAE latent cache (the Arrow IPC file it trained from, in {@code .cache/latents/}),
   * opened as tensors over a read-only memory mapping: no copy, whatever its size. The tensors
   * belong to the lab's scope.
   *
   * @throws LabException if the run recorded no cache or its file is gone
   */
  public Latents latents(Run run) {
    return guard(() -> {
      Path file = new io.latentlab.lab.LatentCaches(home).ofRun(
          Objects.requireNonNull(run, "run: give a Run (lab.show(id))").directory());
      try {
        List<Map<String, Tensor>> batches = io.latentlab.tensor.TensorFiles.map(file, ownScope().allocator());
        batches.forEach(columns -> columns.values().forEach(ownScope()::attach));
        return new Latents(file, batches);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot open " + file, e);
      }
    });
  }

  /** {@link #latents(Run)} for a run named by a trial id prefix or a directory. */
  public Latents latents(String run) {
    return guard(() -> latents(Run.read(this,
        RunDirectory.find(runsDir, Objects.requireNonNull(run, "run: give a trial id")), false)));
  }

  /** Prints the latent caches in {@code .cache/latents/} as a table and returns them. */
  public Table caches() {
    return guard(() -> {
      python();
      List<List<Object>> rows = new ArrayList<>();
      for (io.latentlab.lab.LatentCaches.Entry e : new io.latentlab.lab.LatentCaches(home).list()) {
        rows.add(List.of(e.name(), e.bytes(), e.examples(), e.vae(), e.fingerprint(), e.inUse()));
      }
      Table table = new Table(List.of("name", "bytes", "examples", "vae", "fingerprint", "in_use"), rows);
      System.out.print(table.render());
      System.out.flush();
      return table;
    });
  }

  /**
   * Writes images as a PNG grid (8 to a row, each pixel 2×2) and prints the path.
   *
   * @param images {@code [N, H, W, 1]} (grey) or {@code [N, H, W, 3]} (RGB) in [0, 1], e.g. from a sampler's
   *     {@code decode()}
   * @param file where to write; a relative path is taken from the working directory
   * @return the file, absolute
   * @throws LabException if the tensor is not images or the file cannot be written
   */
  public Path save(Tensor images, String file) {
    return guard(() -> saveGrid(Objects.requireNonNull(images, "images"),
        Path.of(Objects.requireNonNull(file, "file: give a .png path"))));
  }

  Path saveGrid(Tensor images, Path file) {
    Path target = file.toAbsolutePath().normalize();
    int columns = (int) Math.min(8, images.shape()[0]);
    try {
      if (target.getParent() != null) {
        Files.createDirectories(target.getParent());
      }
      ImageIO.write(Images.grid(images, columns, 2), "png", target.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + target, e);
    }
    System.out.println("saved " + target);
    System.out.flush();
    return target;
  }

  /** Closes the lab's tensor scope (its tensors and sampler sessions). Python stays up. */
  @Override
  public void close() {
    if (scope != null) {
      scope.close();
    }
  }

  /** E.g. {@code Lab /work/latentlab (runs in runs, Python started)}. */
  @Override
  public String toString() {
    return "Lab " + home + " (runs in " + display(runsDir) + ", Python "
        + (bridge == null ? "not started yet" : "started") + (verbose ? ", verbose" : "") + ")";
  }

  // --- shared by the facade's classes ------------------------------------------------------

  /**
   * Runs a facade call: anything it throws becomes a one-line {@link LabException}, unless
   * verbose, when Python's traceback is printed and the original is thrown.
   */
  <T> T guard(Supplier<T> call) {
    try {
      return call.get();
    } catch (LabException e) {
      throw e;
    } catch (RuntimeException e) {
      if (verbose) {
        if (e instanceof PythonException python && !python.traceback().isEmpty()) {
          System.err.print(python.traceback());
          System.err.flush();
        }
        throw e;
      }
      throw new LabException(oneLine(e));
    }
  }

  /** A failure in one line, as the CLI prints it. */
  static String oneLine(RuntimeException e) {
    String message;
    if (e instanceof PythonException python) {
      message = python.pythonType() + ": " + python.pythonMessage();
    } else if (e instanceof ConfigException) {
      message = e.getMessage();
    } else if (e instanceof UncheckedIOException io && io.getCause() != null) {
      message = e.getMessage() + ": " + io.getCause().getMessage();
    } else if (e.getMessage() == null || e.getMessage().isBlank()) {
      message = e.getClass().getSimpleName() + " (lab.verbose(true) shows where)";
    } else {
      message = e.getMessage();
    }
    String first = message.strip().lines().findFirst().orElse("");
    return first.equals(message.strip()) ? first : first + " ...";
  }

  /** A path as the user reads it: relative to the working directory when inside it. */
  String display(Path path) {
    Path absolute = path.toAbsolutePath().normalize();
    Path cwd = Path.of("").toAbsolutePath().normalize();
    return absolute.startsWith(cwd) && !absolute.equals(cwd) ? cwd.relativize(absolute).toString()
        : absolute.toString();
  }

  /** A user's file: as given if it exists there (or is absolute), else in the project. */
  Path resolve(String file) {
    Path path = Path.of(Objects.requireNonNull(file, "file: give a path"));
    if (path.isAbsolute() || Files.exists(path) || !Files.exists(home.resolve(path))) {
      return path;
    }
    return home.resolve(path);
  }

  private Table print(Table table) {
    System.out.print(table.rows().isEmpty() ? table.render() + "(no rows; runs are read from "
        + display(runsDir) + ")" + System.lineSeparator() : table.render());
    System.out.flush();
    return table;
  }

  private <T> T withStore(java.util.function.Function<RunStore, T> query) {
    try (RunStore store = RunStore.open(runsDir)) {
      return query.apply(store);
    }
  }
}
