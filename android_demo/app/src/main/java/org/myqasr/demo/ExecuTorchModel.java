package org.myqasr.demo;

import java.io.File;
import java.util.Arrays;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.CtcMethods;
import org.myqasr.demo.core.LoadedModel;
import org.myqasr.demo.core.Logits;
import org.myqasr.demo.core.RuntimeCheck;
import org.myqasr.demo.core.WhisperMethods;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * A {@code .pte} opened with the ExecuTorch Android runtime ({@code org.pytorch:executorch-android}).
 * This is the only class that touches ExecuTorch; the Gradle-free CI build compiles it against the ExecuTorch
 * Java API jar, so a wrong call fails the build even though that APK does not bundle the runtime.
 * Touch this class only when {@link RuntimeCheck#missingReason} returns null.
 */
final class ExecuTorchModel implements LoadedModel {
    static final Loader LOADER = new Loader() {
        @Override
        public LoadedModel load(File pte) throws AsrException {
            return open(pte);
        }
    };

    private final Module module;
    private final String name;

    private ExecuTorchModel(Module module, String name) {
        this.module = module;
        this.name = name;
    }

    /** A loader that opens with {@code threads} runtime threads (0: the runtime's default). */
    static Loader loader(final int threads) {
        return new Loader() {
            @Override
            public LoadedModel load(File pte) throws AsrException {
                return open(pte, threads);
            }
        };
    }

    static ExecuTorchModel open(File pte) throws AsrException {
        return open(pte, 0);
    }

    static ExecuTorchModel open(File pte, int threads) throws AsrException {
        try {
            return new ExecuTorchModel(threads > 0
                    ? Module.load(pte.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads)
                    : Module.load(pte.getAbsolutePath(), Module.LOAD_MODE_MMAP), pte.getName());
        } catch (LinkageError e) {
            throw new AsrException("The ExecuTorch native library could not be loaded on this device ("
                    + e.getMessage() + "); the runtime ships arm64-v8a and x86_64 only.");
        } catch (RuntimeException e) {
            throw new AsrException(pte.getName() + ": ExecuTorch cannot open this program (" + e.getMessage()
                    + "). Is it a .pte exported with executorch " + RuntimeCheck.EXECUTORCH_VERSION + "?");
        }
    }

    @Override
    public String[] methodNames() throws AsrException {
        try {
            return module.getMethods();
        } catch (RuntimeException e) {
            throw new AsrException(name + ": cannot list the program's methods (" + e.getMessage() + ")");
        }
    }

    @Override
    public void loadMethods(String[] names) throws AsrException {
        for (String m : names) {
            try {
                module.loadMethod(m);
            } catch (RuntimeException e) {
                throw new AsrException(name + ": cannot load method '" + m + "' (" + e.getMessage() + "). The .pte"
                        + " may be damaged, need a missing .ptd file, or use an operator this runtime lacks.");
            }
        }
    }

    /** All outputs of a method, each checked to be a tensor. */
    private EValue[] runAll(String method, EValue... inputs) throws AsrException {
        EValue[] out;
        try {
            out = module.execute(method, inputs);
        } catch (RuntimeException e) {
            throw new AsrException(name + ": method '" + method + "' failed (" + e.getMessage() + ")");
        }
        if (out == null || out.length == 0) {
            throw new AsrException(name + ": method '" + method + "' returned no tensor");
        }
        for (EValue v : out) {
            if (!v.isTensor()) {
                throw new AsrException(name + ": method '" + method + "' returned a non-tensor output");
            }
        }
        return out;
    }

    private Tensor run(String method, EValue... inputs) throws AsrException {
        return runAll(method, inputs)[0].toTensor();
    }

    private float[] floats(String method, Tensor t) throws AsrException {
        try {
            return t.getDataAsFloatArray();
        } catch (IllegalStateException e) {
            throw new AsrException(name + ": method '" + method + "' returned " + t.dtype() + ", not float32");
        }
    }

    @Override
    public WhisperMethods whisper() {
        return new WhisperMethods() {
            private long[] featureShape;

            @Override
            public float[] preprocess(float[] pcm) throws AsrException {
                Tensor t = run("preprocessor", EValue.from(Tensor.fromBlob(pcm, new long[] {pcm.length})));
                featureShape = t.shape();
                return floats("preprocessor", t);
            }

            /** The cross K/V tensors, in the order text_decoder takes them after the token and position. */
            @Override
            public Object encode(float[] features) throws AsrException {
                EValue[] kv = runAll("encoder", EValue.from(Tensor.fromBlob(features, featureShape)));
                if (kv.length < 2) {
                    throw new AsrException(name + ": its encoder returns hidden states, not the decoder's"
                            + " cross-attention K/V (exported by an older myqasr): export it again");
                }
                return kv;
            }

            @Override
            public float[] decodeStep(long token, Object crossKv, long position) throws AsrException {
                EValue[] kv = (EValue[]) crossKv;
                EValue[] inputs = new EValue[2 + kv.length];
                inputs[0] = EValue.from(Tensor.fromBlob(new long[] {token}, new long[] {1, 1}));
                inputs[1] = EValue.from(Tensor.fromBlob(new long[] {position}, new long[] {1}));
                System.arraycopy(kv, 0, inputs, 2, kv.length);
                Tensor t = run("text_decoder", inputs);
                float[] all = floats("text_decoder", t);
                long[] shape = t.shape();
                int v = (int) shape[shape.length - 1];
                return all.length == v ? all : Arrays.copyOfRange(all, all.length - v, all.length);
            }
        };
    }

    @Override
    public CtcMethods ctc() {
        return new CtcMethods() {
            @Override
            public Logits forward(float[] waveform) throws AsrException {
                Tensor t = run("forward", EValue.from(Tensor.fromBlob(waveform, new long[] {1, waveform.length})));
                long[] shape = t.shape();
                int v = (int) shape[shape.length - 1];
                float[] data = floats("forward", t);
                if (v <= 0 || data.length % v != 0) {
                    throw new AsrException(name + ": 'forward' returned shape " + Arrays.toString(shape)
                            + ", expected [1, frames, vocab]");
                }
                return new Logits(data, data.length / v, v);
            }
        };
    }

    @Override
    public void close() {
        try {
            module.destroy();
        } catch (IllegalStateException ignored) {
            // still executing on another thread: the garbage collector frees it later
        }
    }
}
