package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The asr-runner path end to end, with a fake in place of ExecuTorch's AsrModule. */
public class AsrRunnerSessionTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static final String[] HELLO = {"<|notimestamps|>", " Hello", ",", " world", ".", "<|endoftext|>"};

    /** Streams fixed pieces, and keeps what the runner was given: the WAV's samples and the config. */
    static final class FakeRunner implements AsrRunner {
        final String[] pieces;
        boolean loaded;
        boolean closed;
        AsrException loadError;
        final List<float[]> heard = new ArrayList<float[]>();
        final List<Integer> rates = new ArrayList<Integer>();
        RunnerConfig config;

        FakeRunner(String... pieces) {
            this.pieces = pieces;
        }

        @Override
        public void load() throws AsrException {
            if (loadError != null) {
                throw loadError;
            }
            loaded = true;
        }

        @Override
        public String transcribe(File wav, RunnerConfig c, Pieces callback) throws AsrException {
            WavReader.Audio a = WavReader.read(wav, 0);  // as ExecuTorch's loader would, from the file
            heard.add(a.samples);
            rates.add(a.sampleRate);
            config = c;
            StringBuilder all = new StringBuilder();
            for (String p : pieces) {
                callback.onPiece(p);
                all.append(p);
            }
            return all.toString();
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    static AsrRunner.Opener opener(final FakeRunner r) {
        return new AsrRunner.Opener() {
            @Override
            public AsrRunner open(AsrRunnerFiles files) {
                return r;
            }
        };
    }

    /** An asr-runner export folder: two ExecuTorch programs (the CTC fixture stands in), .ptd, tokenizer.json. */
    private AsrRunnerFiles export(boolean sidecar) throws IOException, AsrException {
        return exportIn(tmp.newFolder(), sidecar);
    }

    /** {@link #export} without a sidecar, into {@code dir}. */
    static AsrRunnerFiles exportIn(File dir) throws IOException, AsrException {
        return exportIn(dir, false);
    }

    static AsrRunnerFiles exportIn(File dir, boolean sidecar) throws IOException, AsrException {
        byte[] program = Fixtures.bytes(Fixtures.file("ctc/model.pte"));
        write(new File(dir, "model.pte"), program);
        write(new File(dir, "preprocessor.pte"), program);
        write(new File(dir, "model.ptd"), new byte[1000]);
        write(new File(dir, "tokenizer.json"), RunnerConfigTest.TOKENIZER.getBytes(StandardCharsets.UTF_8));
        if (sidecar) {
            write(new File(dir, "model.vocab.json"),
                    RunnerConfigTest.sidecar("49, 51", 24).getBytes(StandardCharsets.UTF_8));
        }
        return AsrRunnerFiles.find(new File(dir, "model.pte"));
    }

    private static void write(File f, byte[] bytes) throws IOException {
        FileOutputStream out = new FileOutputStream(f);
        out.write(bytes);
        out.close();
    }

    /** A 16-bit PCM WAV of {@code frames} frames of {@code channels} channels at {@code rate}. */
    private File wav(String name, int rate, int channels, int frames) throws IOException {
        byte[] data = new byte[frames * channels * 2];
        for (int k = 0; k < frames * channels; k++) {
            short v = (short) (8000 * Math.sin(k * 0.01));
            data[2 * k] = (byte) v;
            data[2 * k + 1] = (byte) (v >> 8);
        }
        File f = tmp.newFile(name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(WavWriter.pcmHeader(rate, channels, 16, data.length));
        out.write(data);
        out.close();
        return f;
    }

    @Test
    public void loadsAndSaysWhatItLoaded() throws Exception {
        FakeRunner fake = new FakeRunner(HELLO);
        AsrRunnerSession s = new AsrRunnerSession();
        AsrRunnerSession.Loaded l = s.load(export(false), opener(fake));
        assertTrue(fake.loaded);
        assertTrue(s.isLoaded());
        assertTrue(l.loadMs >= 0);
        assertNull(l.warning);
        String summary = l.summary();
        assertTrue(summary, summary.startsWith("Loaded model.pte with ExecuTorch's ASR runner (AsrModule + model.ptd)"));
        assertTrue(summary, summary.contains("\nmodel.pte "));
        assertTrue(summary, summary.endsWith("\nstart token 50257, at most 129 new tokens, greedy (from tokenizer.json)"));
        s.close();
        assertTrue(fake.closed);
        assertFalse(s.isLoaded());
    }

    @Test
    public void aFailedLoadClosesTheRunnerAndKeepsNothing() throws Exception {
        FakeRunner fake = new FakeRunner(HELLO);
        fake.loadError = new AsrException(RunnerErrors.loadFailure("model.pte", 0x24));
        AsrRunnerSession s = new AsrRunnerSession();
        try {
            s.load(export(false), opener(fake));
            fail();
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("InvalidExternalData"));
        }
        assertTrue(fake.closed);
        assertFalse(s.isLoaded());
    }

    @Test
    public void aDamagedProgramIsRefusedBeforeNativeCodeSeesIt() throws Exception {
        AsrRunnerFiles f = export(false);
        write(f.preprocessor, "not a program".getBytes(StandardCharsets.UTF_8));
        try {
            new AsrRunnerSession().load(f, opener(new FakeRunner(HELLO)));
            fail();
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("preprocessor.pte: not an ExecuTorch program"));
        }
    }

    @Test
    public void theSidecarsChecksumsNameOtherFiles() throws Exception {
        AsrRunnerFiles f = export(true);
        String json = new String(Fixtures.bytes(f.sidecar), StandardCharsets.UTF_8);
        String ptdSha = PteFile.sha256(f.data);
        String pteSha = PteFile.sha256(f.model);
        String pinned = json.replaceFirst("\"pte_sha256\": (null|\"[0-9a-f]*\")", "\"pte_sha256\": \"" + pteSha + "\"")
                .replaceFirst("\"ptd_sha256\": (null|\"[0-9a-f]*\")", "\"ptd_sha256\": \"" + ptdSha + "\"");
        assertTrue(pinned.contains(pteSha) && pinned.contains(ptdSha));
        write(f.sidecar, pinned.getBytes(StandardCharsets.UTF_8));
        assertNull(AsrRunnerSession.sidecarWarning(f, Vocab.load(f.sidecar)));
        write(f.data, new byte[999]);
        String w = new AsrRunnerSession().load(f, opener(new FakeRunner(HELLO))).warning;
        assertEquals("Note: model.vocab.json was written for another model.ptd (the token table): push model.pte and"
                + " model.ptd of the same export.", w);
    }

    @Test
    public void aClipReachesTheRunnerMonoAt16kHzAndTheTranscriptGrowsPieceByPiece() throws Exception {
        FakeRunner fake = new FakeRunner(HELLO);
        AsrRunnerSession s = new AsrRunnerSession();
        s.load(export(true), opener(fake));
        File clip = wav("stereo8k.wav", 8000, 2, 8000);
        DemoSession.Clip c = s.readClip(clip);
        final List<String> shown = new ArrayList<String>();
        File scratch = tmp.newFolder("cache");
        RunnerResult r = s.transcribe(c, scratch, new AsrRunnerSession.Progress() {
            @Override
            public void onText(String text) {
                shown.add(text);
            }
        });
        assertEquals(Arrays.asList("", "Hello", "Hello,", "Hello, world", "Hello, world.", "Hello, world."), shown);
        assertEquals("Hello, world.", r.text);
        assertEquals(6, r.tokens);
        assertEquals(1.0, r.audioSeconds, 1e-9);
        assertFalse(r.truncated);
        assertTrue(r.transcribeMs >= 0 && r.firstPieceMs >= 0 && r.firstPieceMs <= r.transcribeMs);
        // the runner heard the app's own mono 16 kHz samples, bit for bit, and the scratch file is gone
        assertEquals(Integer.valueOf(16000), fake.rates.get(0));
        assertArrayEquals(c.pcm, fake.heard.get(0), 0f);
        float[] expected = Resampler.resample(WavReader.read(clip, 0).samples, 8000, 16000);
        assertArrayEquals(expected, fake.heard.get(0), 0f);
        assertEquals(0, scratch.list().length);
        // the sidecar's prompt [49, 51] + 24 new tokens
        assertEquals(49L, fake.config.decoderStartTokenId);
        assertEquals(25L, fake.config.maxNewTokens);
    }

    @Test
    public void aClipLongerThanOneWindowIsCutTo30Seconds() throws Exception {
        FakeRunner fake = new FakeRunner("<|notimestamps|>", " long", "<|endoftext|>");
        AsrRunnerSession s = new AsrRunnerSession();
        s.load(export(false), opener(fake));
        RunnerResult r = s.transcribe(s.readClip(wav("long.wav", 16000, 1, 31 * 16000)), tmp.newFolder(), null);
        assertTrue(r.truncated);
        assertEquals(480000, fake.heard.get(0).length);
        assertEquals("long", r.text);
    }

    @Test
    public void severalClipsShowFinishedLinesAndTheGrowingOne() throws Exception {
        AsrRunnerSession s = new AsrRunnerSession();
        s.load(export(false), opener(new FakeRunner(HELLO)));
        File good = wav("a.wav", 16000, 1, 1600);
        File bad = tmp.newFile("b.wav");
        write(bad, "not audio".getBytes(StandardCharsets.UTF_8));
        File again = wav("c.wav", 16000, 1, 1600);
        final List<String> shown = new ArrayList<String>();
        String out = s.transcribeAll(Arrays.asList(good, bad, again), tmp.newFolder(), new AsrRunnerSession.Progress() {
            @Override
            public void onText(String text) {
                shown.add(text);
            }
        });
        String[] lines = out.split("\n");
        assertTrue(out, lines[0].equals("a.wav: \"Hello, world.\""));
        assertTrue(out, lines[3].startsWith("b.wav: not a WAV file"));
        assertTrue(out, lines[4].equals("c.wav: \"Hello, world.\""));
        assertEquals(out, shown.get(shown.size() - 1));
        assertEquals("a.wav: \"Hello,\" ...", shown.get(2));
        assertTrue(shown.toString(), shown.contains(lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3]
                + "\nc.wav: \"Hello, world\" ..."));
    }

    @Test
    public void benchmarkAndItsLimits() throws Exception {
        FakeRunner fake = new FakeRunner(HELLO);
        AsrRunnerSession s = new AsrRunnerSession();
        try {
            s.transcribeAll(new ArrayList<File>(), tmp.getRoot(), null);
            fail();
        } catch (AsrException e) {
            assertEquals("Load an asr-runner export (model.pte, model.ptd, preprocessor.pte, tokenizer.json) first",
                    e.getMessage());
        }
        s.load(export(false), opener(fake));
        DemoSession.Clip c = s.readClip(wav("a.wav", 16000, 1, 16000));
        DemoSession.Bench b = s.benchmark(c, tmp.newFolder(), 3);
        assertEquals(3, b.ms.n);
        assertEquals(3, fake.heard.size());
        try {
            s.benchmark(c, tmp.getRoot(), 0);
            fail();
        } catch (AsrException e) {
            assertEquals("The number of benchmark runs must be between 1 and 1000", e.getMessage());
        }
    }
}
