package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Every bad input ends in one sentence, never an exception of another kind. */
public class DemoSessionTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    /** A fake model whose methods and output width are set by the test. */
    static final class Fake implements LoadedModel {
        final String[] methods;
        final int vocab;
        boolean closed;

        Fake(int vocab, String... methods) {
            this.methods = methods;
            this.vocab = vocab;
        }

        @Override
        public String[] methodNames() {
            return methods;
        }

        @Override
        public void loadMethods(String[] names) {
        }

        @Override
        public WhisperMethods whisper() {
            return null;
        }

        @Override
        public CtcMethods ctc() {
            return new CtcMethods() {
                @Override
                public Logits forward(float[] waveform) {
                    return new Logits(new float[2 * vocab], 2, vocab);
                }
            };
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    static LoadedModel.Loader loader(final LoadedModel m) {
        return new LoadedModel.Loader() {
            @Override
            public LoadedModel load(File pte) {
                return m;
            }
        };
    }

    private File copy(String fixture, String name) throws IOException {
        File f = tmp.newFile(name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(Fixtures.bytes(Fixtures.file(fixture)));
        out.close();
        return f;
    }

    private File write(String name, String text) throws IOException {
        File f = tmp.newFile(name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.close();
        return f;
    }

    private static String loadError(File pte, File vocab, LoadedModel.Loader loader) {
        try {
            new DemoSession().load(pte, vocab, loader);
        } catch (AsrException e) {
            return e.getMessage();
        }
        throw new AssertionError("loaded");
    }

    @Test
    public void missingCorruptAndTruncatedPte() throws Exception {
        File vocab = copy("ctc/model.vocab.json", "model.vocab.json");
        Fake m = new Fake(14, "forward");
        assertEquals("nothing.pte: model file not found",
                loadError(new File(tmp.getRoot(), "nothing.pte"), vocab, loader(m)));
        String notPte = loadError(write("notes.pte", "this is not a program"), vocab, loader(m));
        assertTrue(notPte, notPte.startsWith("notes.pte: not an ExecuTorch program"));
        byte[] real = Fixtures.bytes(Fixtures.file("ctc/model.pte"));
        File cut = tmp.newFile("cut.pte");
        FileOutputStream out = new FileOutputStream(cut);
        out.write(real, 0, real.length / 2);
        out.close();
        String truncated = loadError(cut, vocab, loader(m));
        assertTrue(truncated, truncated.startsWith("cut.pte: the model file is truncated (" + real.length / 2 + " of "
                + real.length + " bytes)"));
    }

    @Test
    public void archAndVocabularySizeMismatches() throws Exception {
        File pte = copy("ctc/model.pte", "model.pte");
        File ctcVocab = copy("ctc/model.vocab.json", "model.vocab.json");
        File whisperVocab = copy("whisper/eos/model.vocab.json", "whisper.vocab.json");
        Fake ctcModel = new Fake(14, "forward");
        String arch = loadError(pte, whisperVocab, loader(ctcModel));
        assertEquals("Model/vocabulary mismatch: whisper.vocab.json is for a whisper model, which needs the method"
                + " 'preprocessor', but model.pte has [forward] (a wav2vec2 model). Pick the .vocab.json exported"
                + " with this .pte.", arch);
        assertTrue("a failed load closes the model", ctcModel.closed);
        Fake whisperModel = new Fake(64, "encoder", "preprocessor", "text_decoder");
        assertTrue(loadError(pte, ctcVocab, loader(whisperModel)).contains("needs the method 'forward', but"
                + " model.pte has [encoder, preprocessor, text_decoder] (a whisper model)"));

        DemoSession s = new DemoSession();
        s.load(pte, ctcVocab, loader(new Fake(15, "forward")));
        try {
            s.transcribe(s.readClip(Fixtures.file("ctc/input.wav")));
            fail();
        } catch (AsrException e) {
            assertEquals("Model/vocabulary mismatch: the model outputs 15 logits per step but model.vocab.json has 14"
                    + " tokens. Pick the .vocab.json exported with this .pte.", e.getMessage());
        }
    }

    @Test
    public void warningWhenTheSidecarNamesAnotherPte() throws Exception {
        File pte = copy("ctc/model.pte", "model.pte");
        String json = new String(Fixtures.bytes(Fixtures.file("ctc/model.vocab.json")), StandardCharsets.UTF_8);
        File vocab = write("other.vocab.json", json.replaceFirst("\"pte_sha256\": \"[0-9a-f]+\"",
                "\"pte_sha256\": \"0123456789abcdef\""));
        DemoSession.Loaded l = new DemoSession().load(pte, vocab, loader(new Fake(14, "forward")));
        assertNotNull(l.warning);
        assertTrue(l.summary(), l.summary().contains("other.vocab.json was written for another .pte"));
    }

    @Test
    public void externalWeightsAreExplained() throws Exception {
        File pte = copy("ctc/model.pte", "model.pte");
        String json = new String(Fixtures.bytes(Fixtures.file("ctc/model.vocab.json")), StandardCharsets.UTF_8);
        File ptd = write("ptd.vocab.json", json.replace("\"ptd_sha256\": null", "\"ptd_sha256\": \"ab\""));
        assertTrue(loadError(pte, ptd, loader(new Fake(14, "forward"))).contains("separate .ptd file"));
        // (the missing runtime's message is RuntimeCheck's own: saysPlainlyWhenTheRuntimeIsNotBundled; a stub that
        // threw that text and a test that read it back could not fail, so it is gone)
    }

    @Test
    public void needsAModelAndValidRuns() throws Exception {
        DemoSession s = new DemoSession();
        try {
            s.readClip(Fixtures.file("ctc/input.wav"));
            fail();
        } catch (AsrException e) {
            assertEquals("Load a model (.pte and its .vocab.json) first", e.getMessage());
        }
        s.load(copy("ctc/model.pte", "model.pte"), copy("ctc/model.vocab.json", "model.vocab.json"),
                loader(new Fake(14, "forward")));
        DemoSession.Clip clip = s.readClip(Fixtures.file("ctc/input.wav"));
        try {
            s.benchmark(clip, 0);
            fail();
        } catch (AsrException e) {
            assertEquals("The number of benchmark runs must be between 1 and 1000", e.getMessage());
        }
        DemoSession.Bench b = s.benchmark(clip, 3);
        assertEquals(3, b.ms.n);
        assertTrue(b.describe(), b.describe().startsWith("input.wav (0.31 s), 3 runs: median "));
        try {
            s.readClip(Fixtures.file("wav/ulaw_mono_8000.wav"));
            fail();
        } catch (AsrException e) {
            assertTrue(e.getMessage().startsWith("ulaw_mono_8000.wav: unsupported WAV encoding (mu-law, 8-bit)"));
        }
        assertTrue(s.isLoaded());
        s.close();
        assertFalse(s.isLoaded());
    }

    @Test
    public void saysPlainlyWhenTheRuntimeIsNotBundled() {
        // The host test classpath, like the Gradle-free APK, has no org.pytorch.executorch classes.
        String why = RuntimeCheck.missingReason(getClass().getClassLoader());
        assertNotNull(why);
        assertTrue(why, why.startsWith("The ExecuTorch runtime is not bundled in this APK"));
        assertTrue(why, why.contains("org.pytorch:executorch-android:1.5.1"));
    }

    @Test
    public void statsSummariseRuns() {
        Stats s = new Stats(new double[] {30, 10, 20, 40});
        assertEquals(4, s.n);
        assertEquals(30, s.first, 0);
        assertEquals(25, s.median, 0);
        assertEquals(25, s.mean, 0);
        assertEquals(10, s.min, 0);
        assertEquals(40, s.max, 0);
        assertEquals(20, new Stats(new double[] {20, 10, 30}).median, 0);
    }

    @Test
    public void findsTheSidecarOfAModel() throws Exception {
        File dir = tmp.newFolder("push");
        File pte = new File(dir, "small.pte");
        File own = new File(dir, "small.vocab.json");
        File other = new File(dir, "big.vocab.json");
        for (File f : new File[] {pte, own, other, new File(dir, "clip.WAV")}) {
            assertTrue(f.createNewFile());
        }
        java.util.List<File> vocabs = ModelFiles.list(ModelFiles.dirs(dir, null), ModelFiles.VOCAB);
        assertEquals(2, vocabs.size());
        assertEquals(own, ModelFiles.vocabFor(pte, vocabs));
        assertEquals(null, ModelFiles.vocabFor(new File(dir, "x.pte"), vocabs));
        assertEquals(1, ModelFiles.list(ModelFiles.dirs(dir), ModelFiles.WAV).size());
        assertEquals("a.b.vocab.json", ModelFiles.vocabNameFor("a.b.pte"));
    }
}
