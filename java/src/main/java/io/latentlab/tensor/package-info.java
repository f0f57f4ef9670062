/**
 * Tensors over 64-byte-aligned Arrow memory: {@link io.latentlab.tensor.Tensor} (a batch as a
 * {@code fixed_shape_tensor} column), {@link io.latentlab.tensor.TensorScope} (the owners that
 * close them), the zero-copy Arrow C Data export and import that moves them to and from Python,
 * Arrow IPC files, and image grids.
 *
 * <p>Owns: the memory of every tensor on the Java side and its lifetime. It depends on no other
 * LatentLab package (LayeringTest).
 */
package io.latentlab.tensor;
