package org.myqasr.demo.core;

/**
 * An opened {@code .pte} at the runtime boundary: list and load its methods, run one on tensors. The app's binding
 * (ExecuTorchModel) makes these calls on {@code org.pytorch.executorch.Module} and nothing more; every shape,
 * order and dtype decision is in {@link PteModel} and {@link PteStatsMethods}, which JUnit runs against the
 * ExecuTorch runtime's recorded calls (fixtures/whisper/calls.json).
 */
public interface PteProgram {
    /** The file name, for messages. */
    String name();

    String[] methodNames() throws AsrException;

    void loadMethod(String method) throws AsrException;

    /** Runs {@code method}; every output is a tensor (the binding refuses anything else). */
    PteTensor[] execute(String method, PteTensor... inputs) throws AsrException;

    void close();
}
