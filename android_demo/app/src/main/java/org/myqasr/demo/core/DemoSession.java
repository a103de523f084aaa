package org.myqasr.demo.core;

import java.io.File;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Everything the demo screen does, without Android: load a {@code .pte} with its vocabulary, read and
 * resample a clip, transcribe it, benchmark it, and say so in plain lines. The screen only picks files,
 * runs these calls on a worker thread and shows the strings. Not thread-safe: use one worker thread.
 */
public final class DemoSession {
    /**
     * CTC clips are cut here (myqasr's CTC exports accept up to 30 s, and the app has no CTC windowing yet);
     * Whisper takes recordings up to {@link LongForm#MAX_RECORDING_SECONDS} through its long-form method.
     */
    public static final double MAX_CTC_SECONDS = 30.0;
    /** Runs per benchmark at most (a benchmark stops at Cancel, but keep it bounded). */
    public static final int MAX_BENCH_RUNS = 1000;

    private LoadedModel model;
    private Vocab vocab;
    private Transcriber transcriber;
    private Loaded loaded;

    /** What loading measured. */
    public static final class Loaded {
        public final String pteName;
        public final String arch;
        public final long pteBytes;
        /** Opening the program and loading the methods it needs (ms). */
        public final double loadMs;
        /** Non-fatal note (e.g. the sidecar names another .pte), or null. */
        public final String warning;
        public final Vocab vocab;

        Loaded(String pteName, String arch, long pteBytes, double loadMs, String warning, Vocab vocab) {
            this.pteName = pteName;
            this.arch = arch;
            this.pteBytes = pteBytes;
            this.loadMs = loadMs;
            this.warning = warning;
            this.vocab = vocab;
        }

        public String summary() {
            StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
                    "Loaded %s (%s, %.1f MB, %d tokens) in %.0f ms", pteName, arch, pteBytes / 1e6,
                    vocab.tokens.length, loadMs));
            if (vocab.modelId != null) {
                b.append("\nmodel ").append(vocab.modelId);
                if (vocab.scheme != null) {
                    b.append(", scheme ").append(vocab.scheme);
                }
            }
            if (warning != null) {
                b.append('\n').append(warning);
            }
            return b.toString();
        }
    }

    /** A clip read, mixed to mono and resampled to the model's rate. */
    public static final class Clip {
        public final String name;
        public final float[] pcm;
        /** Seconds of audio the model sees. */
        public final double seconds;
        public final boolean truncated;
        /** Reading + resampling (ms). */
        public final double prepMs;

        Clip(String name, float[] pcm, int sampleRate, boolean truncated, double prepMs) {
            this.name = name;
            this.pcm = pcm;
            this.seconds = pcm.length / (double) sampleRate;
            this.truncated = truncated;
            this.prepMs = prepMs;
        }
    }

    /** One transcription of one clip. */
    public static final class Result {
        public final Clip clip;
        public final Transcript transcript;

        Result(Clip clip, Transcript transcript) {
            this.clip = clip;
            this.transcript = transcript;
        }

        /** Model time divided by audio time: below 1 is faster than real time. */
        public double rtf() {
            return transcript.totalMs() / 1000.0 / clip.seconds;
        }

        public String describe() {
            StringBuilder b = new StringBuilder();
            b.append(clip.name).append(": \"").append(transcript.text).append("\"\n");
            b.append(String.format(Locale.ROOT, "  audio %.2f s%s | latency %.0f ms | RTF %.3f | prep %.0f ms",
                    clip.seconds, clip.truncated ? " (cut to the app's maximum)" : "",
                    transcript.totalMs(), rtf(), clip.prepMs));
            b.append("\n  ");
            boolean firstStage = true;
            for (Map.Entry<String, Double> e : transcript.stageMs.entrySet()) {
                b.append(firstStage ? "" : ", ").append(e.getKey())
                        .append(String.format(Locale.ROOT, " %.0f ms", e.getValue()));
                firstStage = false;
            }
            if (transcript.stageMs.containsKey("decode") && transcript.steps > 1) {
                b.append(String.format(Locale.ROOT, " (%d decoder steps, %.1f ms/step)", transcript.steps,
                        transcript.stageMs.get("decode") / transcript.steps));
            }
            return b.toString();
        }
    }

    /** N timed transcriptions of one clip. */
    public static final class Bench {
        public final Clip clip;
        public final Stats ms;

        Bench(Clip clip, Stats ms) {
            this.clip = clip;
            this.ms = ms;
        }

        public String describe() {
            return String.format(Locale.ROOT,
                    "%s (%.2f s), %d runs: median %.0f ms, mean %.0f, min %.0f, max %.0f, first %.0f | median RTF %.3f",
                    clip.name, clip.seconds, ms.n, ms.median, ms.mean, ms.min, ms.max, ms.first,
                    ms.median / 1000.0 / clip.seconds);
        }
    }

    public boolean isLoaded() {
        return model != null;
    }

    public Loaded loaded() {
        return loaded;
    }

    /** Opens {@code pte} with {@code loader} and checks it against {@code vocabFile}; replaces any loaded model. */
    public Loaded load(File pte, File vocabFile, LoadedModel.Loader loader) throws AsrException {
        close();
        PteFile.check(pte);
        Vocab v = Vocab.load(vocabFile);
        if (v.ptdSha256 != null) {
            throw new AsrException(v.source + " says this export keeps its weights in a separate .ptd file, which"
                    + " the generic Module path cannot load: put model.ptd, preprocessor.pte and tokenizer.json of"
                    + " the --target asr-runner export beside " + pte.getName() + " (the app then uses ExecuTorch's"
                    + " AsrModule), or export with --target module for one file.");
        }
        long t0 = System.nanoTime();
        LoadedModel m = loader.load(pte);
        boolean ok = false;
        try {
            String[] names = m.methodNames();
            ModelCheck.methods(pte.getName(), names, v);
            m.loadMethods(ModelCheck.requiredMethods(v));
            double loadMs = Transcript.msSince(t0);
            String warning = ModelCheck.shaWarning(pte.getName(), PteFile.sha256(pte), v);
            transcriber = Vocab.ARCH_WHISPER.equals(v.arch) ? new WhisperTranscriber(m.whisper(), v)
                    : new CtcTranscriber(m.ctc(), v);
            model = m;
            vocab = v;
            loaded = new Loaded(pte.getName(), v.arch, pte.length(), loadMs, warning, v);
            ok = true;
            return loaded;
        } finally {
            if (!ok) {
                m.close();
            }
        }
    }

    /**
     * {@link #load}, then, when {@code cancel} was set while loading (a native call that cannot be interrupted),
     * closes the model again and throws {@link Cancellation.Cancelled}. A cancel set before loading stops it from
     * starting.
     */
    public Loaded load(File pte, File vocabFile, LoadedModel.Loader loader, Cancellation cancel) throws AsrException {
        cancel.check();
        Loaded l = load(pte, vocabFile, loader);
        if (cancel.isCancelled()) {
            close();
            throw new Cancellation.Cancelled();
        }
        return l;
    }

    /** The longest clip the loaded model takes (Whisper: long-form; CTC: one 30 s input). */
    public double maxClipSeconds() {
        return vocab != null && Vocab.ARCH_WAV2VEC2.equals(vocab.arch) ? MAX_CTC_SECONDS
                : LongForm.MAX_RECORDING_SECONDS;
    }

    /** Reads a WAV (cut to maxClipSeconds()), mixes it to mono and resamples it to the model's rate. */
    public Clip readClip(File wav) throws AsrException {
        requireModel();
        long t0 = System.nanoTime();
        WavReader.Audio audio = WavReader.read(wav, maxClipSeconds());
        float[] pcm = Resampler.resample(audio.samples, audio.sampleRate, vocab.sampleRate);
        return new Clip(wav.getName(), pcm, vocab.sampleRate, audio.truncated(), Transcript.msSince(t0));
    }

    public Result transcribe(Clip clip) throws AsrException {
        requireModel();
        return new Result(clip, transcriber.transcribe(clip.pcm));
    }

    /**
     * Transcribes the clips in turn, one line each (a clip that fails gets a line saying why). Cancel stops it: the
     * finished lines, then {@link MainTasks#cancelledAfter}. Inside a clip the model's own checks stop it (a model
     * loaded through {@link Cancellation#loader}); between clips this loop checks {@code cancel}.
     */
    public String transcribeAll(List<File> wavs, Cancellation cancel) throws AsrException {
        requireModel();
        StringBuilder b = new StringBuilder();
        int done = 0;
        for (File f : wavs) {
            String line;
            try {
                cancel.check();
                line = transcribe(readClip(f)).describe();
            } catch (Cancellation.Cancelled e) {
                b.append(b.length() == 0 ? "" : "\n").append(MainTasks.cancelledAfter(done, wavs.size()));
                break;
            } catch (AsrException e) {
                line = e.getMessage().startsWith(f.getName() + ":") ? e.getMessage() : f.getName() + ": "
                        + e.getMessage();
            }
            b.append(b.length() == 0 ? "" : "\n").append(line);
            done++;
        }
        return b.toString();
    }

    /** Transcribes {@code clip} {@code runs} times and summarises the model time. */
    public Bench benchmark(Clip clip, int runs) throws AsrException {
        return benchmark(clip, runs, new Cancellation());
    }

    /** {@link #benchmark(Clip, int)}, checking {@code cancel} before each run. */
    public Bench benchmark(Clip clip, int runs, Cancellation cancel) throws AsrException {
        requireModel();
        if (runs < 1 || runs > MAX_BENCH_RUNS) {
            throw new AsrException("The number of benchmark runs must be between 1 and " + MAX_BENCH_RUNS);
        }
        double[] ms = new double[runs];
        for (int r = 0; r < runs; r++) {
            cancel.check();
            ms[r] = transcriber.transcribe(clip.pcm).totalMs();
        }
        return new Bench(clip, new Stats(ms));
    }

    private void requireModel() throws AsrException {
        if (model == null) {
            throw new AsrException("Load a model (.pte and its .vocab.json) first");
        }
    }

    public void close() {
        if (model != null) {
            model.close();
        }
        model = null;
        vocab = null;
        transcriber = null;
        loaded = null;
    }
}
