package org.myqasr.demo;

import java.io.File;
import java.util.Arrays;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.RuntimeCheck;
import org.myqasr.demo.core.StatsMethods;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * The statistics program ({@code myqasr export-stats}) opened with the ExecuTorch Android runtime: the encoder and
 * text_decoder calls with their two extra outputs (hist float32 [rows, bins], moments float64 [rows, 6]), for
 * {@link org.myqasr.demo.core.PhoneStatsRunner}. Compiled against the ExecuTorch Java API in CI; not run on a phone
 * yet. Touch it only when {@link RuntimeCheck#missingReason} returns null.
 */
final class ExecuTorchStats implements StatsMethods {
    private final Module module;
    private final String name;
    private long[] featureShape;

    ExecuTorchStats(File pte) throws AsrException {
        this.name = pte.getName();
        try {
            this.module = Module.load(pte.getAbsolutePath(), Module.LOAD_MODE_MMAP);
        } catch (LinkageError e) {
            throw new AsrException("The ExecuTorch native library could not be loaded on this device ("
                    + e.getMessage() + ")");
        } catch (RuntimeException e) {
            throw new AsrException(name + ": ExecuTorch cannot open this program (" + e.getMessage() + ")");
        }
    }

    private EValue[] run(String method, int outputs, EValue... inputs) throws AsrException {
        EValue[] out;
        try {
            out = module.execute(method, inputs);
        } catch (RuntimeException e) {
            throw new AsrException(name + ": method '" + method + "' failed (" + e.getMessage() + ")");
        }
        if (out == null || out.length < outputs) {
            throw new AsrException(name + ": method '" + method + "' returned " + (out == null ? 0 : out.length)
                    + " outputs: not a statistics program (export it with `myqasr export-stats`)");
        }
        return out;
    }

    @Override
    public float[] preprocess(float[] pcm) throws AsrException {
        Tensor t = run("preprocessor", 1, EValue.from(Tensor.fromBlob(pcm, new long[] {pcm.length})))[0].toTensor();
        featureShape = t.shape();
        return t.getDataAsFloatArray();
    }

    @Override
    public Call encode(float[] features, long nSamples) throws AsrException {
        EValue[] out = run("encoder", 4, EValue.from(Tensor.fromBlob(features, featureShape)),
                EValue.from(Tensor.fromBlob(new long[] {nSamples}, new long[] {1})));
        int n = out.length;
        return new Call(Arrays.copyOfRange(out, 0, n - 2), null, out[n - 2].toTensor().getDataAsFloatArray(),
                out[n - 1].toTensor().getDataAsDoubleArray());
    }

    @Override
    public Call decodeStep(long token, Object crossKv, long position) throws AsrException {
        EValue[] kv = (EValue[]) crossKv;
        EValue[] inputs = new EValue[2 + kv.length];
        inputs[0] = EValue.from(Tensor.fromBlob(new long[] {token}, new long[] {1, 1}));
        inputs[1] = EValue.from(Tensor.fromBlob(new long[] {position}, new long[] {1}));
        System.arraycopy(kv, 0, inputs, 2, kv.length);
        EValue[] out = run("text_decoder", 3, inputs);
        return new Call(kv, out[0].toTensor().getDataAsFloatArray(), out[1].toTensor().getDataAsFloatArray(),
                out[2].toTensor().getDataAsDoubleArray());
    }

    void close() {
        try {
            module.destroy();
        } catch (IllegalStateException ignored) {
            // still executing on another thread: the garbage collector frees it later
        }
    }
}
