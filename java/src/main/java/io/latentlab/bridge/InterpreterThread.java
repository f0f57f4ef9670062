package io.latentlab.bridge;

import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * The one thread that runs Python. Callers hand it work and wait for the answer. Neither side
 * parks at once, because a park/unpark round trip costs tens of microseconds on small machines
 * while a Python call can take well under one (measured in bench/reports): the idle interpreter
 * thread spins a while, a waiting caller spins, then yields its core, then parks.
 */
final class InterpreterThread {
  /** How long the idle interpreter thread spins before it parks: back-to-back calls find it awake. */
  private static final long SPIN_NANOS = 50_000;

  /**
   * How long a caller waits awake before it parks: longer than a tensor handoff (about 60 µs
   * measured), so that one does not pay a park/unpark round trip on top (about 35 µs measured on
   * the 2-core machine). A long call (a training stage, a sampling step) parks after this and has
   * cost at most this much of one core.
   */
  private static final long CALLER_SPIN_NANOS = 200_000;

  /**
   * For how much of that a caller spins outright; after it, it yields its core while it waits,
   * so that on a small machine another thread that wakes (the JIT, a collector) takes the
   * caller's core rather than preempting the interpreter thread (measured: a handoff's 90th
   * percentile fell from about 100 to 75 µs).
   */
  private static final long CALLER_BUSY_NANOS = 20_000;

  private final ConcurrentLinkedQueue<Task<?>> queue = new ConcurrentLinkedQueue<>();
  private final Thread thread;
  private volatile boolean running = true;
  /** The task the interpreter thread is running, or null. */
  private volatile Task<?> current;

  InterpreterThread(String name) {
    thread = new Thread(this::loop, name);
    thread.setDaemon(true);
    thread.start();
  }

  /** The thread itself. */
  Thread thread() {
    return thread;
  }

  /**
   * Runs {@code body} on the interpreter thread and returns its result.
   *
   * @throws IllegalStateException if the thread was shut down
   * @throws RuntimeException or Error: whatever {@code body} threw (checked ones wrapped)
   */
  <T> T call(Callable<T> body) {
    if (!running) {
      throw new IllegalStateException("the Python bridge is closed; start a new one with PythonBridge.start");
    }
    Task<T> task = new Task<>(body, Thread.currentThread());
    queue.add(task);
    LockSupport.unpark(thread);
    boolean interrupted = false;
    long start = System.nanoTime();
    while (!task.done) {
      long waited = System.nanoTime() - start;
      if (waited < CALLER_BUSY_NANOS) {
        Thread.onSpinWait();
      } else if (waited < CALLER_SPIN_NANOS) {
        Thread.yield();
      } else {
        LockSupport.park(task);
        // A Python call cannot be abandoned half-way: ask it to stop at its next progress
        // report (see stopRequested), wait it out, and keep the interrupt for the caller.
        if (Thread.interrupted()) {
          interrupted = true;
          task.stopRequested = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (task.failure instanceof RuntimeException runtime) {
      throw runtime;
    }
    if (task.failure instanceof Error error) {
      throw error;
    }
    if (task.failure != null) {
      throw new IllegalStateException(task.failure);
    }
    return task.result;
  }

  /**
   * True when the caller of the call now running was interrupted (a notebook's interrupt, a
   * JShell Ctrl-C, {@link Thread#interrupt()}): long Python work checks it at each progress
   * report and stops there. Read on the interpreter thread.
   */
  boolean stopRequested() {
    Task<?> task = current;
    return task != null && task.stopRequested;
  }

  /** Lets queued work finish, then ends the thread. */
  void shutdown() {
    running = false;
    LockSupport.unpark(thread);
  }

  private void loop() {
    long idleSince = System.nanoTime();
    while (running || !queue.isEmpty()) {
      Task<?> task = queue.poll();
      if (task == null) {
        if (System.nanoTime() - idleSince < SPIN_NANOS) {
          Thread.onSpinWait();
        } else {
          LockSupport.park(this);
        }
        continue;
      }
      current = task;
      task.run();
      current = null;
      idleSince = System.nanoTime();
    }
  }

  private static final class Task<T> {
    private final Callable<T> body;
    private final Thread caller;
    private T result;
    private Throwable failure;
    private volatile boolean done; // written last: publishes result and failure
    private volatile boolean stopRequested;

    Task(Callable<T> body, Thread caller) {
      this.body = body;
      this.caller = caller;
    }

    void run() {
      try {
        result = body.call();
      } catch (Throwable e) {
        failure = e;
      }
      done = true;
      LockSupport.unpark(caller);
    }
  }
}
