package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The main screen's tasks: which buttons work while each runs, and how Cancel stops each one on both paths (the
 * generic Module path within one decoder step or between clips, the AsrModule path between clips only, loading once
 * the native load returns).
 */
public class MainTasksTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static final TaskGate.Task[] MAIN_TASKS = {TaskGate.Task.LOADING, TaskGate.Task.COPYING,
        TaskGate.Task.TRANSCRIBING, TaskGate.Task.BENCHMARKING};
    private static final TaskGate.Button[] MAIN_BUTTONS = {TaskGate.Button.PICK, TaskGate.Button.RECORD,
        TaskGate.Button.COMPUTE, TaskGate.Button.CLEAR, TaskGate.Button.CANCEL};

    @Test
    public void whileAMainTaskRunsOnlyCancelWorks() {
        for (TaskGate.Task t : MAIN_TASKS) {
            for (TaskGate.Button b : MAIN_BUTTONS) {
                assertEquals(t + " " + b, b == TaskGate.Button.CANCEL, TaskGate.enabled(b, t, false));
                assertFalse(t + " " + b + " idle", b == TaskGate.Button.CANCEL
                        && TaskGate.enabled(b, TaskGate.Task.NONE, false));
            }
        }
        TaskGate gate = new TaskGate();
        assertTrue(gate.start(TaskGate.Task.LOADING));
        assertFalse("a second task waits", gate.start(TaskGate.Task.TRANSCRIBING));
        gate.finish();
        assertTrue(gate.start(TaskGate.Task.BENCHMARKING));
    }

    @Test
    public void theCancelButtonSaysTheAsrRunnerStopsBetweenClips() {
        assertEquals("Cancel", MainTasks.cancelLabel(TaskGate.Task.TRANSCRIBING, false));
        assertEquals("Cancel", MainTasks.cancelLabel(TaskGate.Task.LOADING, true));
        for (TaskGate.Task t : new TaskGate.Task[] {TaskGate.Task.TRANSCRIBING, TaskGate.Task.BENCHMARKING}) {
            assertEquals("Stop after this clip (AsrModule cannot stop inside one)", MainTasks.cancelLabel(t, true));
            assertTrue(MainTasks.cancellingNote(t, true).contains("AsrModule has no stop call"));
            assertEquals("Stopping at the next decoder step...", MainTasks.cancellingNote(t, false));
        }
        assertTrue(MainTasks.cancellingNote(TaskGate.Task.LOADING, false).contains("closed as soon as loading"));
        assertNotEquals(MainTasks.cancellingNote(TaskGate.Task.COPYING, false),
                MainTasks.cancellingNote(TaskGate.Task.LOADING, false));
        assertEquals("Cancelled after 1 of 3 clip(s).", MainTasks.cancelledAfter(1, 3));
    }

    // ---- the generic Module path (DemoSession) ----

    /** A CTC fake that sets {@code cancel} on its {@code cancelAt}-th forward (1-based) and counts forwards. */
    static final class CancellingCtc implements LoadedModel {
        final Cancellation cancel;
        final int cancelAt;
        int forwards;
        boolean closed;

        CancellingCtc(Cancellation cancel, int cancelAt) {
            this.cancel = cancel;
            this.cancelAt = cancelAt;
        }

        @Override
        public String[] methodNames() {
            return new String[] {"forward"};
        }

        @Override
        public void loadMethods(String[] names) {
        }

        @Override
        public WhisperMethods whisper() {
            throw new AssertionError("a CTC model");
        }

        @Override
        public CtcMethods ctc() {
            return new CtcMethods() {
                @Override
                public Logits forward(float[] waveform) {
                    if (++forwards == cancelAt) {
                        cancel.cancel();
                    }
                    return new Logits(new float[2 * 14], 2, 14);
                }
            };
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    private File copy(String fixture, String name) throws IOException {
        return write(name, Fixtures.bytes(Fixtures.file(fixture)));
    }

    private File write(String name, byte[] bytes) throws IOException {
        File f = new File(tmp.getRoot(), name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(bytes);
        out.close();
        return f;
    }

    private List<File> threeClips() throws IOException {
        return Arrays.asList(copy("ctc/input.wav", "a.wav"), copy("ctc/input.wav", "b.wav"),
                copy("ctc/input.wav", "c.wav"));
    }

    private DemoSession ctcSession(LoadedModel m) throws Exception {
        DemoSession s = new DemoSession();
        s.load(copy("ctc/model.pte", "model.pte"), copy("ctc/model.vocab.json", "model.vocab.json"),
                DemoSessionTest.loader(m));
        return s;
    }

    @Test
    public void transcribeAllStopsBetweenClips() throws Exception {
        Cancellation cancel = new Cancellation();
        CancellingCtc m = new CancellingCtc(cancel, 2);
        DemoSession s = ctcSession(m);       // not through cancel.loader: only the loop's own check can stop it
        String out = s.transcribeAll(threeClips(), cancel);
        String[] lines = out.split("\n");
        assertTrue(out, lines[0].startsWith("a.wav: \""));
        assertTrue(out, out.contains("\nb.wav: \""));
        assertFalse(out, out.contains("c.wav"));
        assertEquals("Cancelled after 2 of 3 clip(s).", lines[lines.length - 1]);
        assertEquals(2, m.forwards);
    }

    @Test
    public void transcribeAllWithoutCancelDoesEveryClip() throws Exception {
        CancellingCtc m = new CancellingCtc(new Cancellation(), -1);
        String out = ctcSession(m).transcribeAll(threeClips(), new Cancellation());
        assertTrue(out, out.contains("\nc.wav: \""));
        assertFalse(out, out.contains("Cancelled"));
        assertEquals(3, m.forwards);
    }

    @Test
    public void aWhisperClipStopsWithinOneDecoderStep() throws Exception {
        Cancellation cancel = new Cancellation();
        CompareTest.Fixed m = new CompareTest.Fixed(1);   // decodes "b" until max_new_tokens (3)
        m.cancelAtStep = cancel;
        m.cancelStep = 2;
        File vocab = write("w.vocab.json", ("{\"format\": \"myqasr-vocab\", \"version\": 1, \"arch\": \"whisper\","
                + " \"tokens\": [\"\\u0120a\", \"b\", \"\\u0120\", \"<|endoftext|>\", \"<|sot|>\", \"<|nots|>\"],"
                + " \"whisper\": {\"n_samples\": 16000, \"decoder_start_ids\": [4, 5], \"eos_id\": 3,"
                + " \"max_new_tokens\": 3, \"suppress_tokens\": [], \"begin_suppress_tokens\": [],"
                + " \"first_special_id\": 3}}").getBytes(StandardCharsets.UTF_8));
        DemoSession s = new DemoSession();
        s.load(copy("ctc/model.pte", "w.pte"), vocab, cancel.loader(DemoSessionTest.loader(m)));
        String out = s.transcribeAll(threeClips(), cancel);
        assertEquals("Cancelled after 0 of 3 clip(s).", out);
        assertEquals("the third step never ran", 2, m.steps);
    }

    @Test
    public void aBenchmarkStopsBetweenRuns() throws Exception {
        Cancellation cancel = new Cancellation();
        CancellingCtc m = new CancellingCtc(cancel, 2);
        DemoSession s = ctcSession(m);
        DemoSession.Clip clip = s.readClip(Fixtures.file("ctc/input.wav"));
        try {
            s.benchmark(clip, 10, cancel);
            fail("cancelled");
        } catch (Cancellation.Cancelled e) {
            assertEquals(MainTasks.CANCELLED, e.getMessage());
        }
        assertEquals(2, m.forwards);
    }

    @Test
    public void aCancelDuringLoadingClosesTheModel() throws Exception {
        final Cancellation cancel = new Cancellation();
        final CancellingCtc m = new CancellingCtc(cancel, -1);
        LoadedModel.Loader cancelsWhileLoading = new LoadedModel.Loader() {
            @Override
            public LoadedModel load(File pte) {
                cancel.cancel();
                return m;
            }
        };
        DemoSession s = new DemoSession();
        try {
            s.load(copy("ctc/model.pte", "model.pte"), copy("ctc/model.vocab.json", "model.vocab.json"),
                    cancelsWhileLoading, cancel);
            fail("cancelled");
        } catch (Cancellation.Cancelled e) {
            assertTrue(m.closed);
            assertFalse(s.isLoaded());
        }
        cancel.reset();
        s.load(copy("ctc/model.pte", "model2.pte"), copy("ctc/model.vocab.json", "model2.vocab.json"),
                DemoSessionTest.loader(m), cancel);
        assertTrue("without a cancel it loads", s.isLoaded());
    }

    @Test
    public void aCancelBeforeLoadingStopsItStarting() throws Exception {
        Cancellation cancel = new Cancellation();
        cancel.cancel();
        LoadedModel.Loader mustNotRun = new LoadedModel.Loader() {
            @Override
            public LoadedModel load(File pte) {
                throw new AssertionError("loaded after Cancel");
            }
        };
        try {
            new DemoSession().load(copy("ctc/model.pte", "model.pte"), copy("ctc/model.vocab.json",
                    "model.vocab.json"), mustNotRun, cancel);
            fail("cancelled");
        } catch (Cancellation.Cancelled e) {
            assertEquals(MainTasks.CANCELLED, e.getMessage());
        }
    }

    // ---- the AsrModule path (AsrRunnerSession): no stop call, so between clips ----

    /** The fake runner, which sets {@code cancel} while it decodes its {@code cancelAt}-th clip (1-based). */
    private static AsrRunner cancellingRunner(final AsrRunnerSessionTest.FakeRunner fake, final Cancellation cancel,
            final int cancelAt) {
        return new AsrRunner() {
            @Override
            public void load() throws AsrException {
                fake.load();
            }

            @Override
            public String transcribe(File wav, RunnerConfig c, Pieces callback) throws AsrException {
                String text = fake.transcribe(wav, c, callback);
                if (fake.heard.size() == cancelAt) {
                    cancel.cancel();
                }
                return text;
            }

            @Override
            public void close() {
                fake.close();
            }
        };
    }

    private static AsrRunner.Opener opener(final AsrRunner r) {
        return new AsrRunner.Opener() {
            @Override
            public AsrRunner open(AsrRunnerFiles files) {
                return r;
            }
        };
    }

    @Test
    public void theAsrRunnerStopsAfterTheClipItIsDecoding() throws Exception {
        Cancellation cancel = new Cancellation();
        AsrRunnerSessionTest.FakeRunner fake = new AsrRunnerSessionTest.FakeRunner(" Hi", "<|endoftext|>");
        AsrRunnerSession s = new AsrRunnerSession();
        s.load(AsrRunnerSessionTest.exportIn(tmp.newFolder()), opener(cancellingRunner(fake, cancel, 1)));
        String out = s.transcribeAll(threeClips(), tmp.newFolder(), null, cancel);
        assertEquals("the clip being decoded finished", 1, fake.heard.size());
        assertTrue(out, out.startsWith("a.wav: \"Hi\""));
        assertTrue(out, out.endsWith("\nCancelled after 1 of 3 clip(s)."));
        assertFalse(out, out.contains("b.wav"));
    }

    @Test
    public void anAsrRunnerBenchmarkStopsBetweenRuns() throws Exception {
        Cancellation cancel = new Cancellation();
        AsrRunnerSessionTest.FakeRunner fake = new AsrRunnerSessionTest.FakeRunner(" Hi", "<|endoftext|>");
        AsrRunnerSession s = new AsrRunnerSession();
        s.load(AsrRunnerSessionTest.exportIn(tmp.newFolder()), opener(cancellingRunner(fake, cancel, 2)));
        DemoSession.Clip clip = s.readClip(Fixtures.file("ctc/input.wav"));
        try {
            s.benchmark(clip, tmp.newFolder(), 10, cancel);
            fail("cancelled");
        } catch (Cancellation.Cancelled e) {
            assertEquals(2, fake.heard.size());
        }
    }

    @Test
    public void aCancelDuringAsrModuleLoadingClosesIt() throws Exception {
        final Cancellation cancel = new Cancellation();
        final AsrRunnerSessionTest.FakeRunner fake = new AsrRunnerSessionTest.FakeRunner(" Hi");
        AsrRunner.Opener cancelsWhileOpening = new AsrRunner.Opener() {
            @Override
            public AsrRunner open(AsrRunnerFiles files) {
                cancel.cancel();
                return fake;
            }
        };
        AsrRunnerSession s = new AsrRunnerSession();
        try {
            s.load(AsrRunnerSessionTest.exportIn(tmp.newFolder()), cancelsWhileOpening, cancel);
            fail("cancelled");
        } catch (Cancellation.Cancelled e) {
            assertTrue(fake.loaded);
            assertTrue(fake.closed);
            assertFalse(s.isLoaded());
        }
    }
}
