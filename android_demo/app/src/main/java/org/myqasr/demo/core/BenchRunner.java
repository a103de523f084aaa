package org.myqasr.demo.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The benchmark loop, without Android: load the model through {@link DemoSession} (the app's own path), read every
 * clip once, then {@code warmup + runs} passes over all clips, each transcription timed with System.nanoTime.
 * Reading and resampling the WAVs is outside the timings; the timed part is exactly {@link DemoSession#transcribe}.
 */
public final class BenchRunner {
    /** Process memory, read by the app after the last pass. */
    public interface MemoryProbe {
        /** Peak resident set (VmHWM) in kB, -1 if unknown. */
        long peakRssKb();

        /** Native heap allocated now, bytes, -1 if unknown. */
        long nativeHeapBytes();
    }

    private BenchRunner() {
    }

    public static BenchResult run(DemoSession session, LoadedModel.Loader loader, BenchConfig cfg, MemoryProbe memory)
            throws AsrException {
        List<File> files = cfg.clipFiles();
        DemoSession.Loaded loaded = session.load(cfg.model, cfg.vocab, loader);
        boolean whisper = Vocab.ARCH_WHISPER.equals(loaded.arch);
        List<DemoSession.Clip> clips = new ArrayList<DemoSession.Clip>();
        for (File f : files) {
            clips.add(session.readClip(f));
        }
        List<BenchResult.Sample> samples = new ArrayList<BenchResult.Sample>();
        for (int pass = 0; pass < cfg.warmup + cfg.runs; pass++) {
            for (DemoSession.Clip clip : clips) {
                long t0 = System.nanoTime();
                DemoSession.Result r = session.transcribe(clip);
                double ms = (System.nanoTime() - t0) / 1e6;
                Double decode = r.transcript.stageMs.get("decode");
                samples.add(new BenchResult.Sample(pass, clip.name, clip.seconds, ms,
                        whisper ? r.transcript.steps : 0, whisper && decode != null ? decode : 0.0,
                        r.transcript.text));
            }
        }
        return new BenchResult(loaded.pteName, loaded.pteBytes, loaded.arch, cfg.runs, cfg.warmup, cfg.threads,
                loaded.loadMs, memory.peakRssKb(), memory.nativeHeapBytes(), samples);
    }

    /** Writes {@code json} to {@code target} completely or not at all (temp file + rename). */
    public static void write(File target, Map<String, Object> json) throws IOException {
        StatsFile.write(target, (JsonOut.write(json) + "\n").getBytes(Charset.forName("UTF-8")));
    }
}
