package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The benchmark's statistics, its JSON file and its argument checks (core/BenchResult, BenchRunner, BenchConfig). */
public class BenchTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static BenchResult.Sample sample(int pass, String clip, double seconds, double ms, int steps, double decMs) {
        return new BenchResult.Sample(pass, clip, seconds, ms, steps, decMs, "text");
    }

    @Test
    public void warmupPassesAreListedButNotCounted() {
        List<BenchResult.Sample> s = new ArrayList<BenchResult.Sample>();
        s.add(sample(0, "a.wav", 2.0, 9000, 10, 8000));   // warm-up: slow, must not move any statistic
        s.add(sample(0, "b.wav", 4.0, 9000, 10, 8000));
        s.add(sample(1, "a.wav", 2.0, 400, 10, 300));
        s.add(sample(1, "b.wav", 4.0, 1000, 30, 600));
        s.add(sample(2, "a.wav", 2.0, 600, 10, 300));
        s.add(sample(2, "b.wav", 4.0, 800, 30, 600));
        BenchResult r = new BenchResult("m.pte", 1234, "whisper", 2, 1, 4, 55.5, 1000, 2000, s);
        assertEquals(4, r.measuredCount);
        assertEquals(6, r.samples.size());
        // measured latencies {400, 1000, 600, 800}: median (600 + 800) / 2, p90 = ceil(3.6) = 4th smallest
        assertEquals(700.0, r.latencyMedianMs, 1e-9);
        assertEquals(1000.0, r.latencyP90Ms, 1e-9);
        // RTF = ms / 1000 / seconds: 0.2, 0.25, 0.3, 0.2 -> sorted 0.2 0.2 0.25 0.3
        assertEquals(0.225, r.rtfMedian, 1e-12);
        assertEquals(0.3, r.rtfP90, 1e-12);
        // decoder ms per step: (300 + 600 + 300 + 600) / (10 + 30 + 10 + 30)
        assertEquals(1800.0 / 80, r.decoderMsPerStep, 1e-12);
    }

    @Test
    public void rtfIsProcessingTimeOverAudioTime() {
        assertEquals(0.5, sample(0, "x", 3.0, 1500, 0, 0).rtf(), 1e-12);
        assertEquals(2.0, sample(0, "x", 0.25, 500, 0, 0).rtf(), 1e-12);
        try {
            sample(0, "empty.wav", 0.0, 10, 0, 0);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("empty.wav: audio length must be positive to compute an RTF", e.getMessage());
        }
    }

    @Test
    public void onlyWarmupSamplesIsAnError() {
        List<BenchResult.Sample> s = new ArrayList<BenchResult.Sample>();
        s.add(sample(0, "a.wav", 1, 10, 0, 0));
        try {
            new BenchResult("m.pte", 1, "wav2vec2", 1, 1, 0, 1, -1, -1, s);
            fail();
        } catch (IllegalArgumentException e) {
            assertEquals("no measured samples: every one of the 1 samples is a warm-up (warmup 1)", e.getMessage());
        }
    }

    private File copy(String fixture, File dir, String name) throws IOException {
        File f = new File(dir, name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(Fixtures.bytes(Fixtures.file(fixture)));
        out.close();
        return f;
    }

    private static final BenchRunner.MemoryProbe MEMORY = new BenchRunner.MemoryProbe() {
        @Override
        public long peakRssKb() {
            return ProcStatus.kb(ProcStatusTest.STATUS, ProcStatus.PEAK_RSS);
        }

        @Override
        public long nativeHeapBytes() {
            return -1;
        }
    };

    /** The whole loop through DemoSession (fake CTC model, real fixture .pte header, vocab and WAV), then the file. */
    @Test
    public void runWritesAJsonThatReadsBack() throws Exception {
        File base = tmp.getRoot();
        copy("ctc/model.pte", base, "model.pte");
        copy("ctc/model.vocab.json", base, "model.vocab.json");
        File clips = tmp.newFolder("clips");
        copy("ctc/input.wav", clips, "b.wav");
        copy("ctc/input.wav", clips, "a.wav");
        new FileOutputStream(new File(clips, "notes.txt")).close();
        Map<String, Object> extras = new HashMap<String, Object>();
        extras.put("model", "model.pte");
        extras.put("clips", "clips");
        extras.put("runs", 3);
        extras.put("warmup", "2");           // --es warmup 2 works too
        extras.put("threads", 4);
        BenchConfig cfg = BenchConfig.fromExtras(extras, base);
        DemoSessionTest.Fake model = new DemoSessionTest.Fake(14, "forward");
        BenchResult r = BenchRunner.run(new DemoSession(), DemoSessionTest.loader(model), cfg, MEMORY);
        assertEquals(10, r.samples.size());                 // (2 + 3) passes x 2 clips
        assertEquals(6, r.measuredCount);
        assertEquals("a.wav", r.samples.get(0).clip);       // clips by name
        assertEquals("b.wav", r.samples.get(1).clip);

        File out = new File(base, "bench.json");
        BenchRunner.write(out, r.toJson());
        assertFalse("the temp file is renamed away", new File(base, ".bench.json.tmp").exists());
        @SuppressWarnings("unchecked")
        Map<String, Object> j = (Map<String, Object>) Json.parse(PhoneStatsJob.readText(out));
        assertEquals(BenchResult.SCHEMA, j.get("schema"));
        assertEquals("ok", j.get("status"));
        assertEquals("model.pte", j.get("model"));
        assertEquals(new File(base, "model.pte").length(), j.get("model_bytes"));
        assertEquals("wav2vec2", j.get("arch"));
        assertEquals(3L, j.get("runs"));
        assertEquals(2L, j.get("warmup"));
        assertEquals(4L, j.get("threads"));
        assertEquals(6L, j.get("measured_samples"));
        assertEquals(4L, j.get("warmup_samples"));
        assertEquals(412364L, j.get("peak_rss_kb"));
        assertNull("unknown", j.get("native_heap_bytes"));
        assertTrue(j.containsKey("decoder_ms_per_step"));
        assertNull("CTC has no step-wise decoder", j.get("decoder_ms_per_step"));
        assertEquals(r.loadMs, (Double) j.get("load_ms"), 0);
        @SuppressWarnings("unchecked")
        Map<String, Object> lat = (Map<String, Object>) j.get("latency_ms");
        assertEquals(r.latencyMedianMs, (Double) lat.get("median"), 0);
        assertEquals(r.latencyP90Ms, (Double) lat.get("p90"), 0);
        @SuppressWarnings("unchecked")
        Map<String, Object> rtf = (Map<String, Object>) j.get("rtf");
        assertEquals(r.rtfMedian, (Double) rtf.get("median"), 0);
        List<?> samples = (List<?>) j.get("samples");
        assertEquals(10, samples.size());
        double[] measured = new double[6];
        int k = 0;
        for (int i = 0; i < samples.size(); i++) {
            Map<?, ?> e = (Map<?, ?>) samples.get(i);
            assertEquals(i < 4, e.get("warmup"));
            assertEquals((long) (i / 2), e.get("pass"));
            assertEquals(0.31, (Double) e.get("audio_seconds"), 0.01);
            double ms = (Double) e.get("total_ms");
            assertEquals(ms / 1000.0 / (Double) e.get("audio_seconds"), (Double) e.get("rtf"), 1e-12);
            if (i >= 4) {
                measured[k++] = ms;
            }
        }
        // the file's statistics are those of its non-warm-up samples
        assertEquals(Percentiles.median(measured), (Double) lat.get("median"), 0);
        assertEquals(Percentiles.nearestRank(measured, 90), (Double) lat.get("p90"), 0);
    }

    @Test
    public void errorDocumentReadsBack() throws Exception {
        File out = new File(tmp.getRoot(), "bench.json");
        BenchRunner.write(out, BenchResult.errorJson("No model: pass --es model <path.pte>"));
        Map<?, ?> j = (Map<?, ?>) Json.parse(PhoneStatsJob.readText(out));
        assertEquals("error", j.get("status"));
        assertEquals("No model: pass --es model <path.pte>", j.get("error"));
    }

    private static String configError(Map<String, Object> extras, File base) {
        try {
            BenchConfig.fromExtras(extras, base).clipFiles();
        } catch (AsrException e) {
            return e.getMessage();
        }
        throw new AssertionError("accepted " + extras);
    }

    @Test
    public void badArgumentsGiveOneClearSentence() throws Exception {
        File base = tmp.getRoot();
        Map<String, Object> extras = new HashMap<String, Object>();
        assertEquals("No model: pass --es model <path.pte> (relative paths are under " + base + ")",
                configError(extras, base));
        extras.put("model", "m.pte");
        extras.put("runs", 0);
        assertEquals("runs must be at least 1 (got 0): pass --ei runs N", configError(extras, base));
        extras.put("runs", "five");
        assertEquals("runs must be an integer (got 'five'): pass --ei runs N", configError(extras, base));
        extras.put("runs", 2);
        extras.put("warmup", -1);
        assertEquals("warmup must be 0 or more (got -1)", configError(extras, base));
        extras.put("warmup", 999);
        assertEquals("runs + warmup must be at most 1000 (got 2 + 999)", configError(extras, base));
        extras.put("warmup", 0);
        extras.put("threads", -2);
        assertEquals("threads must be 0 (the runtime's default) or more (got -2)", configError(extras, base));
        extras.put("threads", 0);
        File empty = tmp.newFolder("empty");
        extras.put("clips", empty.getAbsolutePath());
        assertEquals("No .wav clips in " + empty + ": adb push some there or pass --es clips <dir>",
                configError(extras, base));
        extras.put("clips", "nowhere");
        assertEquals("Clips: " + new File(base, "nowhere") + " is neither a folder nor a file (pass --es clips <dir>)",
                configError(extras, base));
    }

    @Test
    public void defaultsAndPaths() throws Exception {
        File base = tmp.getRoot();
        Map<String, Object> extras = new HashMap<String, Object>();
        extras.put("model", "/sdcard/x/tiny.pte");
        BenchConfig c = BenchConfig.fromExtras(extras, base);
        assertEquals(new File("/sdcard/x/tiny.pte"), c.model);
        assertEquals(new File("/sdcard/x/tiny.vocab.json"), c.vocab);
        assertEquals(base, c.clips);
        assertEquals(BenchConfig.DEFAULT_RUNS, c.runs);
        assertEquals(BenchConfig.DEFAULT_WARMUP, c.warmup);
        assertEquals(0, c.threads);
        extras.put("vocab", "v.vocab.json");
        extras.put("runs", 7L);
        c = BenchConfig.fromExtras(extras, base);
        assertEquals(new File(base, "v.vocab.json"), c.vocab);
        assertEquals(7, c.runs);
    }
}
