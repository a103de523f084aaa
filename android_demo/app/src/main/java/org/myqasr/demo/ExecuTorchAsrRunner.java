package org.myqasr.demo;

import java.io.File;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.AsrRunner;
import org.myqasr.demo.core.AsrRunnerFiles;
import org.myqasr.demo.core.RunnerConfig;
import org.myqasr.demo.core.RunnerErrors;
import org.myqasr.demo.core.RuntimeCheck;
import org.pytorch.executorch.ExecutorchRuntimeException;
import org.pytorch.executorch.extension.asr.AsrCallback;
import org.pytorch.executorch.extension.asr.AsrModule;
import org.pytorch.executorch.extension.asr.AsrTranscribeConfig;

/**
 * An asr-runner export opened with ExecuTorch's {@code AsrModule(modelPath, tokenizerPath, dataPath,
 * preprocessorPath)}: its C++ loop reads the WAV, runs {@code preprocessor.pte}, {@code encoder} once,
 * {@code text_decoder} + {@code sampler} per token, and calls back with each decoded piece. The only class that
 * touches {@code org.pytorch.executorch.extension.asr}; the Gradle-free CI build compiles it against the ExecuTorch
 * Java API jar. Touch it only when {@link RuntimeCheck#missingReason} returns null.
 */
final class ExecuTorchAsrRunner implements AsrRunner {
    static final Opener OPENER = new Opener() {
        @Override
        public AsrRunner open(AsrRunnerFiles files) throws AsrException {
            return ExecuTorchAsrRunner.open(files);
        }
    };

    private final AsrModule module;
    private final String name;

    private ExecuTorchAsrRunner(AsrModule module, String name) {
        this.module = module;
        this.name = name;
    }

    static ExecuTorchAsrRunner open(AsrRunnerFiles files) throws AsrException {
        String name = files.model.getName();
        try {
            return new ExecuTorchAsrRunner(new AsrModule(files.model.getAbsolutePath(),
                    files.tokenizer.getAbsolutePath(), files.data.getAbsolutePath(),
                    files.preprocessor.getAbsolutePath()), name);
        } catch (LinkageError e) {
            throw new AsrException("The ExecuTorch native library (with its ASR runner) could not be loaded on this"
                    + " device (" + e.getMessage() + "); the runtime ships arm64-v8a and x86_64 only.");
        } catch (RuntimeException e) {
            throw new AsrException(name + ": ExecuTorch's AsrModule cannot open this export (" + e.getMessage()
                    + "). Is it a --target asr-runner export made with executorch " + RuntimeCheck.EXECUTORCH_VERSION
                    + "?");
        }
    }

    @Override
    public void load() throws AsrException {
        int status;
        try {
            status = module.load();
        } catch (RuntimeException e) {
            throw new AsrException(name + ": the ASR runner cannot load it (" + e.getMessage() + ")");
        }
        if (status != 0) {
            throw new AsrException(RunnerErrors.loadFailure(name, status));
        }
    }

    @Override
    public String transcribe(File wav, RunnerConfig config, final Pieces pieces) throws AsrException {
        AsrTranscribeConfig c = new AsrTranscribeConfig(config.maxNewTokens, config.temperature,
                config.decoderStartTokenId);
        try {
            return module.transcribe(wav.getAbsolutePath(), c, new AsrCallback() {
                @Override
                public void onToken(String token) {
                    pieces.onPiece(token);
                }

                @Override
                public void onError(int errorCode, String message) {
                    // AsrModule reports failures by throwing from transcribe(), caught below
                }
            });
        } catch (ExecutorchRuntimeException e) { // a non-zero status of the native loop, with its error.h code
            throw new AsrException(name + ": the ASR runner failed on " + wav.getName() + " ("
                    + RunnerErrors.name(e.getErrorCode()) + ": " + e.getMessage() + ")");
        } catch (RuntimeException e) {
            throw new AsrException(name + ": the ASR runner failed on " + wav.getName() + " (" + e.getMessage()
                    + ")");
        }
    }

    @Override
    public void close() {
        try {
            module.close();
        } catch (RuntimeException ignored) {
            // already closed, or the native side is gone: nothing left to free
        }
    }
}
