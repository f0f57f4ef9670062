package io.latentlab.bridge;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import jep.Interpreter;
import jep.JepConfig;
import jep.JepException;
import jep.MainInterpreter;
import jep.PyConfig;
import jep.SharedInterpreter;

/**
 * The embedded CPython: one {@code SharedInterpreter} per JVM, created and used only on a thread
 * that the bridge owns. Calls from any Java thread are handed to that thread and wait for it.
 *
 * <p>Use {@link #start(Path)} once; it returns the JVM's bridge. Python's {@code sys.stdout} and
 * {@code sys.stderr} write to whatever Java's {@code System.out} and {@code System.err} are at
 * the time (JShell and notebook kernels replace them per snippet or cell). CPython cannot
 * restart inside a JVM: after {@link #close()} a new bridge gets a fresh interpreter over the
 * same already-imported modules.
 *
 * <p>Thread-safe.
 */
public final class PythonBridge implements AutoCloseable {
  /** The Python module whose functions Java calls. */
  static final String MODULE = "latentlab.bridge";
  private static final String ALIAS = "_latentlab_bridge";
  /**
   * The JVM property ({@code -Dlatentlab.testing=true}) under which the bridge also offers the
   * fixtures of {@code latentlab.testing} (echoes, bad tensors, benchmark hooks) by name. Only
   * the tests and benchmarks set it; the product's callable functions stay the product's.
   */
  static final String TESTING_PROPERTY = "latentlab.testing";
  private static final Object LOCK = new Object();
  private static boolean mainInterpreterConfigured;
  private static PythonBridge current;

  private final PythonEnvironment environment;
  private final InterpreterThread thread;
  private Interpreter interpreter;
  private volatile boolean closed;

  private PythonBridge(PythonEnvironment environment) {
    this.environment = environment;
    this.thread = new InterpreterThread("latentlab-python");
    submitUnchecked(() -> {
      interpreter = new SharedInterpreter();
      interpreter.exec("import site, sys");
      interpreter.set("_latentlab_site", environment.sitePackages().toString());
      interpreter.exec("site.addsitedir(_latentlab_site)");
      interpreter.exec("import " + MODULE + " as " + ALIAS);
      interpreter.invoke(ALIAS + ".start", environment.home().toString());
      if (Boolean.getBoolean(TESTING_PROPERTY)) {
        interpreter.exec("import latentlab.testing");
        interpreter.exec("latentlab.testing.register()");
      }
      return null;
    });
  }

  /**
   * Returns the JVM's bridge for the project found by {@link PythonEnvironment#discoverHome()}:
   * what JShell and notebooks call.
   *
   * @throws IllegalStateException in one line if no project or environment is found
   */
  public static PythonBridge start() {
    return start(PythonEnvironment.discoverHome());
  }

  /**
   * Returns the JVM's bridge, starting CPython on first use.
   *
   * @param home the project root, which holds {@code .venv}
   * @throws IllegalStateException in one line if the environment is missing or Jep's jar and
   *     native library differ in version
   */
  public static PythonBridge start(Path home) {
    synchronized (LOCK) {
      if (current != null && !current.closed) {
        return current;
      }
      PythonEnvironment environment = PythonEnvironment.locate(home.toAbsolutePath().normalize());
      environment.checkJepVersions();
      if (!mainInterpreterConfigured) {
        MainInterpreter.setJepLibraryPath(environment.jepLibrary().toString());
        // Only the venv's packages: no user or system site-packages, no PYTHON* variables.
        MainInterpreter.setInitParams(new PyConfig()
            .setNoSiteFlag(1)
            .setNoUserSiteDirectory(1)
            .setIgnoreEnvironmentFlag(1));
        SharedInterpreter.setConfig(new JepConfig()
            .addIncludePaths(environment.sitePackages().toString())
            .redirectStdout(CurrentStream.out())
            .redirectStdErr(CurrentStream.err()));
        mainInterpreterConfigured = true;
      }
      try {
        current = new PythonBridge(environment);
      } catch (UnsatisfiedLinkError e) {
        throw new IllegalStateException("Jep's native library does not match its jar ("
            + e.getMessage() + "); run ./latentlab setup", e);
      }
      return current;
    }
  }

  /** The project environment this bridge runs. */
  public PythonEnvironment environment() {
    return environment;
  }

  /**
   * Calls a function of {@code latentlab.bridge} with plain arguments (strings, numbers, C-struct
   * addresses, or Java objects Python calls back, such as a {@link ProgressListener}).
   *
   * @param function the function's name in {@code latentlab.bridge}
   * @param args its positional arguments
   * @return what it returned, converted by Jep (str → String, int → Long, None → null, ...)
   * @throws PythonException if Python raised, with its type, message and traceback
   * @throws CallInterruptedException if the calling thread was interrupted during the call; a
   *     {@link ProgressListener} among {@code args} makes long work stop at its next report
   * @throws IllegalStateException if the bridge is closed
   */
  public Object call(String function, Object... args) {
    Object[] full = new Object[args.length + 1];
    full[0] = function;
    for (int i = 0; i < args.length; i++) {
      full[i + 1] = args[i] instanceof ProgressListener listener ? stoppable(listener) : args[i];
    }
    try {
      return submit(() -> interpreter.invoke(ALIAS + ".call", full));
    } catch (PythonException e) {
      // The caller was interrupted during the call, which then failed: the stop it asked for.
      if (Thread.currentThread().isInterrupted()) {
        throw new CallInterruptedException(function, e);
      }
      throw e;
    }
  }

  /**
   * A listener that first checks whether the caller asked the call to stop, and if so throws
   * into Python, which unwinds the work from inside its loop (Python's own signal handling is
   * not available under Jep, see FACTS.md).
   */
  private ProgressListener stoppable(ProgressListener listener) {
    return (stage, step, total, loss) -> {
      if (thread.stopRequested()) {
        throw new IllegalStateException("interrupted by the caller at " + stage + " step " + step);
      }
      listener.update(stage, step, total, loss);
    };
  }

  /**
   * Like {@link #call} for a function that returns a string.
   *
   * @throws PythonException if Python raised or returned something else
   */
  public String callForString(String function, Object... args) {
    Object result = call(function, args);
    if (!(result instanceof String text)) {
      throw new IllegalStateException(function + " returned " + result + ", not a string");
    }
    return text;
  }

  /**
   * Like {@link #call} for a function that returns an int.
   */
  public long callForLong(String function, Object... args) {
    Object result = call(function, args);
    if (!(result instanceof Number number)) {
      throw new IllegalStateException(function + " returned " + result + ", not a number");
    }
    return number.longValue();
  }

  /**
   * Runs Python's cycle collector. Tensors that Java handed to Python are released when Python
   * lets go of them; bfloat16 tensors wait for this collection (see {@code latentlab.bridge}).
   *
   * @return the number of Python objects freed
   */
  public long collectGarbage() {
    return callForLong("collect_garbage");
  }

  /**
   * Runs code with the raw Jep interpreter on its own thread, for benchmarks that compare the
   * bridge with plain Jep.
   */
  <T> T withInterpreter(java.util.function.Function<Interpreter, T> task) {
    return submit(() -> task.apply(interpreter));
  }

  /** The name under which {@code latentlab.bridge} is imported in the interpreter. */
  static String moduleAlias() {
    return ALIAS;
  }

  /** True when the caller is the interpreter's own thread (e.g. inside a progress callback). */
  public boolean onInterpreterThread() {
    return Thread.currentThread() == thread.thread();
  }

  private <T> T submit(Callable<T> task) {
    if (closed) {
      throw new IllegalStateException("the Python bridge is closed; start a new one with PythonBridge.start");
    }
    try {
      return submitUnchecked(task);
    } catch (JepException e) {
      throw translate(e);
    }
  }

  private <T> T submitUnchecked(Callable<T> task) {
    if (onInterpreterThread()) {
      throw new IllegalStateException("a Python call cannot be made from inside another (e.g. from a progress callback)");
    }
    return thread.call(task);
  }

  /** Turns a JepException into a PythonException, with the details Python recorded. */
  private PythonException translate(JepException e) {
    // Jep's own form, "<class 'ValueError'>: message", in case Python recorded nothing.
    java.util.regex.Matcher jepForm = java.util.regex.Pattern
        .compile("^<class '([^']+)'>: (.*)$", java.util.regex.Pattern.DOTALL)
        .matcher(String.valueOf(e.getMessage()));
    String type = jepForm.matches() ? jepForm.group(1) : "Exception";
    String message = jepForm.matches() ? jepForm.group(2) : String.valueOf(e.getMessage());
    String traceback = "";
    Throwable cause = e;
    try {
      Object details = submitUnchecked(() -> interpreter.invoke(ALIAS + ".last_error"));
      if (details instanceof java.util.List<?> parts && parts.size() == 4) {
        type = String.valueOf(parts.get(0));
        message = String.valueOf(parts.get(1));
        traceback = String.valueOf(parts.get(2));
        java.util.List<?> causes = (java.util.List<?>) parts.get(3);
        // Innermost first, so each Python cause wraps the one it was raised from.
        for (int i = causes.size() - 1; i >= 0; i--) {
          java.util.List<?> c = (java.util.List<?>) causes.get(i);
          cause = new PythonException(String.valueOf(c.get(0)), String.valueOf(c.get(1)), "", cause);
        }
      }
    } catch (RuntimeException ignored) {
      // keep what the JepException said
    }
    return new PythonException(type, message, traceback, cause);
  }

  /** Closes the interpreter and its thread. Later calls fail with a clear message. */
  @Override
  public void close() {
    synchronized (LOCK) {
      if (closed) {
        return;
      }
      try {
        submitUnchecked(() -> {
          interpreter.close();
          return null;
        });
      } finally {
        closed = true;
        thread.shutdown();
        if (current == this) {
          current = null;
        }
      }
    }
  }
}
