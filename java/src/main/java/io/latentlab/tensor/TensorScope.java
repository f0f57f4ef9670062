package io.latentlab.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Owns tensors and closes them together, like DJL's {@code NDManager}: tensors made by a scope
 * or {@link #attach attached} to it are closed when it closes, and so are its child scopes
 * (closed first). Its memory is 64-byte aligned, so Python can take its tensors without a copy.
 *
 * <pre>{@code
 * try (TensorScope scope = TensorScope.root()) {
 *   Tensor zeros = scope.zeros(8, 8, 8, 4);
 *   Tensor imported = scope.attach(Tensor.importFrom(scope.allocator(), exporter));
 * } // both closed here, then the scope's allocator
 * }</pre>
 *
 * <p>Closing a tensor yourself first is fine (closing twice is harmless). Memory allocated from
 * {@link #allocator()} into something not attached is the caller's to close before the scope
 * closes; Arrow reports it as a leak otherwise. Not thread-safe: one thread at a time.
 */
public final class TensorScope implements AutoCloseable {
  private final String name;
  private final BufferAllocator allocator;
  private final TensorScope parent;
  private final Deque<AutoCloseable> owned = new ArrayDeque<>();
  private final List<TensorScope> children = new ArrayList<>();
  private int childCount;
  private boolean closed;

  private TensorScope(String name, BufferAllocator allocator, TensorScope parent) {
    this.name = name;
    this.allocator = allocator;
    this.parent = parent;
  }

  /**
   * A scope with its own aligned root allocator ({@link Allocators#aligned()}).
   *
   * @throws IllegalStateException in one line if the JVM lacks {@link Allocators#ADD_OPENS}
   */
  public static TensorScope root() {
    return new TensorScope("scope", Allocators.aligned(), null);
  }

  /**
   * A scope whose memory comes from this one's allocator; it is closed when this scope closes,
   * or earlier by its own {@link #close()} (try-with-resources).
   *
   * @throws IllegalStateException if this scope is closed
   */
  public TensorScope child() {
    checkOpen();
    String childName = name + "/" + (++childCount);
    TensorScope child = new TensorScope(childName,
        allocator.newChildAllocator(childName, 0, Long.MAX_VALUE), this);
    children.add(child);
    return child;
  }

  /** The allocator tensors of this scope come from (aligned); see the class comment on leaks. */
  public BufferAllocator allocator() {
    checkOpen();
    return allocator;
  }

  /**
   * Makes this scope close {@code resource} (a tensor, a sampler step, a session) when it
   * closes; resources close in the reverse order of attaching.
   *
   * @return {@code resource}, for chaining
   * @throws IllegalStateException if this scope is closed
   */
  public <T extends AutoCloseable> T attach(T resource) {
    checkOpen();
    owned.push(Objects.requireNonNull(resource, "resource"));
    return resource;
  }

  /**
   * A new float32 tensor holding a copy of {@code values}, owned by this scope.
   *
   * @param shape {@code [B, d1, ..., dn]}; see {@link Tensor#ofFloats}
   * @throws IllegalArgumentException if the shape and the values do not match
   */
  public Tensor ofFloats(long[] shape, float[] values) {
    return attach(Tensor.ofFloats(allocator(), shape, values));
  }

  /**
   * A new float32 tensor of zeros, owned by this scope.
   *
   * @param shape {@code B, d1, ..., dn}, every dimension positive
   */
  public Tensor zeros(long... shape) {
    return attach(Tensor.zeros(allocator(), DType.FLOAT32, shape));
  }

  /** Bytes this scope's allocator holds now (its children's included). */
  public long allocatedBytes() {
    return closed ? 0 : allocator.getAllocatedMemory();
  }

  /** True once closed. */
  public boolean isClosed() {
    return closed;
  }

  /**
   * Closes the child scopes, then every attached resource (last attached first), then the
   * allocator. Closing again does nothing.
   *
   * @throws IllegalStateException if memory taken from {@link #allocator()} was not released
   *     (Arrow's leak report), after everything else was closed
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    RuntimeException failure = null;
    for (TensorScope child : List.copyOf(children)) {
      try {
        child.close();
      } catch (RuntimeException e) {
        failure = failure == null ? e : failure;
      }
    }
    while (!owned.isEmpty()) {
      try {
        owned.pop().close();
      } catch (Exception e) {
        failure = failure == null ? new IllegalStateException("closing " + name + ": " + e.getMessage(), e)
            : failure;
      }
    }
    try {
      allocator.close();
    } catch (RuntimeException e) {
      failure = failure == null ? e : failure;
    }
    if (parent != null) {
      parent.children.remove(this);
    }
    if (failure != null) {
      throw failure;
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the tensor scope " + name + " is closed");
    }
  }

  @Override
  public String toString() {
    return closed ? "TensorScope[" + name + " closed]" : String.format(java.util.Locale.ROOT,
        "TensorScope[%s %d owned, %d child scopes, %d bytes]", name, owned.size(), children.size(),
        allocator.getAllocatedMemory());
  }
}
