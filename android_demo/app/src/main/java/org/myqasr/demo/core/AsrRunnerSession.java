package org.myqasr.demo.core;

import java.io.File;
import java.util.List;
import java.util.Locale;

/**
 * The app's second path, without Android: an asr-runner export ({@link AsrRunnerFiles}) run by ExecuTorch's own
 * C++ Whisper loop ({@link AsrRunner}, i.e. {@code AsrModule}). Loads and times it, prepares each clip as the
 * runner needs it ({@link RunnerWav}), streams the transcript as the token callback delivers it, and says so in
 * plain lines. The runner decodes one 30 s window (its preprocessor's input), so clips are cut there; long
 * recordings need the generic path's long-form method. Not thread-safe: use one worker thread.
 */
public final class AsrRunnerSession {
    /** One Whisper window: the encoder takes [1, 80, 3000] features, i.e. 30 s at 16 kHz. */
    public static final double MAX_CLIP_SECONDS = 30.0;
    public static final int SAMPLE_RATE = 16000;
    /** The runner's input file, in the scratch folder, deleted after each clip. */
    public static final String SCRATCH_WAV = "asr-runner-input.wav";

    private AsrRunner runner;
    private RunnerConfig config;
    private Loaded loaded;

    /** Receives the text shown so far, on the worker thread, after every piece. */
    public interface Progress {
        void onText(String shown);
    }

    /** What loading measured. */
    public static final class Loaded {
        public final AsrRunnerFiles files;
        public final RunnerConfig config;
        /** Creating the AsrModule and loading program, methods, .ptd and tokenizer (ms). */
        public final double loadMs;
        /** Non-fatal notes (the sidecar names other files), or null. */
        public final String warning;

        Loaded(AsrRunnerFiles files, RunnerConfig config, double loadMs, String warning) {
            this.files = files;
            this.config = config;
            this.loadMs = loadMs;
            this.warning = warning;
        }

        public String summary() {
            StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
                    "Loaded %s with ExecuTorch's ASR runner (AsrModule + %s) in %.0f ms", files.model.getName(),
                    files.data.getName(), loadMs));
            b.append("\n").append(files.describeSizes());
            b.append("\n").append(config.describe());
            if (warning != null) {
                b.append('\n').append(warning);
            }
            return b.toString();
        }
    }

    public boolean isLoaded() {
        return runner != null;
    }

    public Loaded loaded() {
        return loaded;
    }

    /** Checks the files, opens them with {@code opener} and loads; replaces any loaded runner. */
    public Loaded load(AsrRunnerFiles files, AsrRunner.Opener opener) throws AsrException {
        close();
        PteFile.check(files.model);
        PteFile.check(files.preprocessor);
        if (!files.data.isFile() || !files.tokenizer.isFile()) {
            throw new AsrException(files.model.getName() + ": " + files.data.getName() + " or "
                    + files.tokenizer.getName() + " is gone; push the export again");
        }
        RunnerConfig cfg = RunnerConfig.load(files);
        String warning = files.sidecar == null ? null : sidecarWarning(files, Vocab.load(files.sidecar));
        long t0 = System.nanoTime();
        AsrRunner r = opener.open(files);
        boolean ok = false;
        try {
            r.load();
            double loadMs = Transcript.msSince(t0);
            runner = r;
            config = cfg;
            loaded = new Loaded(files, cfg, loadMs, warning);
            ok = true;
            return loaded;
        } finally {
            if (!ok) {
                r.close();
            }
        }
    }

    /**
     * {@link #load}, then, when {@code cancel} was set while loading (AsrModule's load cannot be interrupted),
     * closes the runner again and throws {@link Cancellation.Cancelled}. A cancel set before loading stops it from
     * starting.
     */
    public Loaded load(AsrRunnerFiles files, AsrRunner.Opener opener, Cancellation cancel) throws AsrException {
        cancel.check();
        Loaded l = load(files, opener);
        if (cancel.isCancelled()) {
            close();
            throw new Cancellation.Cancelled();
        }
        return l;
    }

    /** A note when the sidecar's checksums name another .pte or .ptd than the ones beside it; null otherwise. */
    static String sidecarWarning(AsrRunnerFiles files, Vocab vocab) throws AsrException {
        String pte = ModelCheck.shaWarning(files.model.getName(), PteFile.sha256(files.model), vocab);
        String ptd = null;
        if (vocab.ptdSha256 != null && !vocab.ptdSha256.equalsIgnoreCase(PteFile.sha256(files.data))) {
            ptd = "Note: " + vocab.source + " was written for another " + files.data.getName()
                    + " (the token table): push model.pte and model.ptd of the same export.";
        }
        return pte == null ? ptd : ptd == null ? pte : pte + "\n" + ptd;
    }

    /** Reads a WAV (cut to one window), mixes it to mono and resamples it to 16 kHz. */
    public DemoSession.Clip readClip(File wav) throws AsrException {
        long t0 = System.nanoTime();
        WavReader.Audio audio = WavReader.read(wav, MAX_CLIP_SECONDS);
        float[] pcm = Resampler.resample(audio.samples, audio.sampleRate, SAMPLE_RATE);
        if (pcm.length == 0) {
            throw new AsrException(wav.getName() + ": the clip has no audio");
        }
        return new DemoSession.Clip(wav.getName(), pcm, SAMPLE_RATE, audio.truncated(), Transcript.msSince(t0));
    }

    /** Transcribes one clip; {@code progress} (may be null) sees the transcript grow piece by piece. */
    public RunnerResult transcribe(DemoSession.Clip clip, File scratchDir, final Progress progress)
            throws AsrException {
        requireLoaded();
        long t0 = System.nanoTime();
        File wav = new File(scratchDir, SCRATCH_WAV);
        RunnerWav.write(wav, clip.pcm, SAMPLE_RATE);
        double prepMs = clip.prepMs + Transcript.msSince(t0);
        final RunnerTranscript stream = new RunnerTranscript();
        String returned;
        long t1 = System.nanoTime();
        try {
            returned = runner.transcribe(wav, config, new AsrRunner.Pieces() {
                @Override
                public void onPiece(String piece) {
                    stream.add(piece, System.nanoTime());
                    if (progress != null) {
                        progress.onText(stream.displayText());
                    }
                }
            });
        } finally {
            if (!wav.delete()) {
                wav.deleteOnExit();
            }
        }
        long t2 = System.nanoTime();
        long first = stream.firstPieceNanos();
        return new RunnerResult(clip.name, clip.seconds, clip.truncated, prepMs, (t2 - t1) / 1e6,
                first < 0 ? -1 : (first - t1) / 1e6, first < 0 ? 0 : (stream.lastPieceNanos() - first) / 1e6,
                stream.pieces(), RunnerTranscript.textOf(returned == null ? stream.rawText() : returned));
    }

    /**
     * Transcribes the clips in turn; {@code progress} sees the finished clips' lines and the current clip's
     * growing transcript. Returns the finished lines; a clip that fails gets a line saying why.
     */
    public String transcribeAll(List<File> wavs, File scratchDir, final Progress progress) throws AsrException {
        return transcribeAll(wavs, scratchDir, progress, new Cancellation());
    }

    /**
     * {@link #transcribeAll(List, File, Progress)}, checking {@code cancel} between clips (AsrModule has no stop
     * call, so a clip being decoded finishes): the finished lines, then {@link MainTasks#cancelledAfter}.
     */
    public String transcribeAll(List<File> wavs, File scratchDir, final Progress progress, Cancellation cancel)
            throws AsrException {
        requireLoaded();
        final StringBuilder done = new StringBuilder();
        int finished = 0;
        for (File f : wavs) {
            if (cancel.isCancelled()) {
                done.replace(0, done.length(), joinLines(done.toString(),
                        MainTasks.cancelledAfter(finished, wavs.size())));
                break;
            }
            finished++;
            final String name = f.getName();
            String line;
            try {
                line = transcribe(readClip(f), scratchDir, progress == null ? null : new Progress() {
                    @Override
                    public void onText(String shown) {
                        progress.onText(joinLines(done.toString(), name + ": \"" + shown + "\" ..."));
                    }
                }).describe();
            } catch (AsrException e) {
                line = e.getMessage().startsWith(name + ":") ? e.getMessage() : name + ": " + e.getMessage();
            }
            done.replace(0, done.length(), joinLines(done.toString(), line));
            if (progress != null) {
                progress.onText(done.toString());
            }
        }
        return done.toString();
    }

    /** Transcribes {@code clip} {@code runs} times and summarises the transcribe time. */
    public DemoSession.Bench benchmark(DemoSession.Clip clip, File scratchDir, int runs) throws AsrException {
        return benchmark(clip, scratchDir, runs, new Cancellation());
    }

    /** {@link #benchmark(DemoSession.Clip, File, int)}, checking {@code cancel} before each run (between clips). */
    public DemoSession.Bench benchmark(DemoSession.Clip clip, File scratchDir, int runs, Cancellation cancel)
            throws AsrException {
        requireLoaded();
        if (runs < 1 || runs > DemoSession.MAX_BENCH_RUNS) {
            throw new AsrException("The number of benchmark runs must be between 1 and " + DemoSession.MAX_BENCH_RUNS);
        }
        double[] ms = new double[runs];
        for (int r = 0; r < runs; r++) {
            cancel.check();
            ms[r] = transcribe(clip, scratchDir, null).transcribeMs;
        }
        return new DemoSession.Bench(clip, new Stats(ms));
    }

    static String joinLines(String before, String line) {
        return before.isEmpty() ? line : before + "\n" + line;
    }

    private void requireLoaded() throws AsrException {
        if (runner == null) {
            throw new AsrException("Load an asr-runner export (model.pte, model.ptd, preprocessor.pte,"
                    + " tokenizer.json) first");
        }
    }

    public void close() {
        if (runner != null) {
            runner.close();
        }
        runner = null;
        config = null;
        loaded = null;
    }
}
