package org.myqasr.demo;

import java.io.File;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.LoadedModel;
import org.myqasr.demo.core.PteModel;
import org.myqasr.demo.core.PteProgram;
import org.myqasr.demo.core.PteTensor;
import org.myqasr.demo.core.RuntimeCheck;
import org.pytorch.executorch.DType;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * A {@code .pte} opened with the ExecuTorch Android runtime ({@code org.pytorch:executorch-android}): the only class
 * that touches ExecuTorch, and only as thin calls on {@link Module} plus the conversion of {@link PteTensor} to and
 * from {@link EValue}. Shapes, the order of the cross K/V and the logits' last row are decided in
 * {@link PteModel} (core, JUnit-tested against the runtime's recorded calls). The Gradle-free CI build compiles
 * this class against the ExecuTorch Java API jar, so a wrong call fails the build even though that APK does not
 * bundle the runtime. Touch it only when {@link RuntimeCheck#missingReason} returns null.
 */
final class ExecuTorchModel implements PteProgram {
    static final LoadedModel.Loader LOADER = loader(0);

    private final Module module;
    private final String name;

    private ExecuTorchModel(Module module, String name) {
        this.module = module;
        this.name = name;
    }

    /** A loader that opens with {@code threads} runtime threads (0: the runtime's default). */
    static LoadedModel.Loader loader(final int threads) {
        return new LoadedModel.Loader() {
            @Override
            public LoadedModel load(File pte) throws AsrException {
                return new PteModel(open(pte, threads));
            }
        };
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
    public String name() {
        return name;
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
    public void loadMethod(String method) throws AsrException {
        try {
            module.loadMethod(method);
        } catch (RuntimeException e) {
            throw new AsrException(name + ": cannot load method '" + method + "' (" + e.getMessage() + "). The .pte"
                    + " may be damaged, need a missing .ptd file, or use an operator this runtime lacks.");
        }
    }

    @Override
    public PteTensor[] execute(String method, PteTensor... inputs) throws AsrException {
        EValue[] in = new EValue[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            in[i] = toEValue(inputs[i]);
        }
        EValue[] out;
        try {
            out = module.execute(method, in);
        } catch (RuntimeException e) {
            throw new AsrException(name + ": method '" + method + "' failed (" + e.getMessage() + ")");
        }
        if (out == null || out.length == 0) {
            throw new AsrException(name + ": method '" + method + "' returned no tensor");
        }
        PteTensor[] result = new PteTensor[out.length];
        for (int i = 0; i < out.length; i++) {
            if (!out[i].isTensor()) {
                throw new AsrException(name + ": method '" + method + "' returned a non-tensor output");
            }
            result[i] = fromEValue(out[i]);
        }
        return result;
    }

    /** An output goes back as the runtime's own EValue; a tensor built in Java is wrapped without conversion. */
    private EValue toEValue(PteTensor t) throws AsrException {
        if (t.handle instanceof EValue) {
            return (EValue) t.handle;
        }
        String what = name + ": an input";
        if (PteTensor.FLOAT32.equals(t.dtype)) {
            return EValue.from(Tensor.fromBlob(t.floats(what), t.shape()));
        }
        if (PteTensor.INT64.equals(t.dtype)) {
            return EValue.from(Tensor.fromBlob(t.longs(what), t.shape()));
        }
        return EValue.from(Tensor.fromBlob(t.doubles(what), t.shape()));
    }

    private static PteTensor fromEValue(EValue v) {
        final Tensor t = v.toTensor();
        DType d = t.dtype();
        String dtype = d == DType.FLOAT ? PteTensor.FLOAT32 : d == DType.INT64 ? PteTensor.INT64
                : d == DType.DOUBLE ? PteTensor.FLOAT64 : d.name().toLowerCase(java.util.Locale.ROOT);
        return PteTensor.fromRuntime(dtype, t.shape(), v, new PteTensor.Data() {
            @Override
            public float[] floats() {
                return t.getDataAsFloatArray();
            }

            @Override
            public long[] longs() {
                return t.getDataAsLongArray();
            }

            @Override
            public double[] doubles() {
                return t.getDataAsDoubleArray();
            }
        });
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
