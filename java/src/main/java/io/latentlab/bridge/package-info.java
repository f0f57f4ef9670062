/**
 * The embedded CPython: {@link io.latentlab.bridge.PythonBridge} starts one Jep
 * {@code SharedInterpreter} per JVM on a thread it owns and hands every call from any Java
 * thread to it; Python's errors become {@link io.latentlab.bridge.PythonException} (type,
 * message, traceback); {@link io.latentlab.bridge.ProgressListener} carries Python's progress
 * reports back; {@link io.latentlab.bridge.PythonConstants} is what Python owns and Java asks
 * for (sampler names, defaults, ranges).
 *
 * <p>Owns: the interpreter, its thread and its streams. It calls only
 * {@code latentlab/bridge.py}; it depends on no other LatentLab package (LayeringTest).
 */
package io.latentlab.bridge;
