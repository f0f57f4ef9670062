package io.latentlab.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.latentlab.testing.TestProject;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An interrupted caller stops long Python work at its next progress report: what a notebook
 * kernel's interrupt does (it interrupts the thread running the cell).
 */
class CallInterruptTest {
  static PythonBridge bridge;

  @BeforeAll
  static void start() {
    bridge = PythonBridge.start(TestProject.home());
  }

  @Test
  void call_callerInterrupted_stopsAtTheNextProgressReport() throws Exception {
    List<Long> steps = new CopyOnWriteArrayList<>();
    CountDownLatch started = new CountDownLatch(1);
    ProgressListener listener = (stage, step, total, loss) -> {
      steps.add(step);
      started.countDown();
    };
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    AtomicBoolean stillInterrupted = new AtomicBoolean();
    Thread cell = new Thread(() -> {
      try {
        bridge.call("report_progress", listener, 1000, 0.01); // 10 s if never stopped
      } catch (Throwable e) {
        thrown.set(e);
        stillInterrupted.set(Thread.currentThread().isInterrupted());
      }
    }, "cell");
    cell.start();
    assertTrue(started.await(30, TimeUnit.SECONDS), "no progress reported");
    long interruptedAt = System.nanoTime();
    cell.interrupt();
    cell.join(TimeUnit.SECONDS.toMillis(30));
    double seconds = (System.nanoTime() - interruptedAt) / 1e9;

    assertFalse(cell.isAlive(), "the call did not stop");
    assertInstanceOf(CallInterruptedException.class, thrown.get());
    assertTrue(stillInterrupted.get(), "the caller's interrupt status is kept");
    assertTrue(steps.size() < 1000 && seconds < 5, steps.size() + " steps, " + seconds + " s");
  }

  @Test
  void call_afterAnInterruptedCall_runsToTheEnd() throws Exception {
    Thread cell = new Thread(() -> {
      try {
        bridge.call("report_progress", ProgressListener.NONE, 1000, 0.01);
      } catch (CallInterruptedException expected) {
        // the stop this test asks for
      }
    });
    cell.start();
    Thread.sleep(200);
    cell.interrupt();
    cell.join(TimeUnit.SECONDS.toMillis(30));
    List<Long> steps = new CopyOnWriteArrayList<>();
    assertEquals(5L, bridge.callForLong("report_progress",
        (ProgressListener) (stage, step, total, loss) -> steps.add(step), 5, 0.0));
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L), steps);
  }
}
