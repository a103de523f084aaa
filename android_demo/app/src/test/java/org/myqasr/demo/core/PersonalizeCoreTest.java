package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The plain-Java parts of the "Personalize on this phone" screen: clips, what leaves the phone, sharing, buttons. */
public class PersonalizeCoreTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    /** A statistics file as the job writes it: two layers, one row each. */
    File statsFile(String name) throws IOException {
        PhoneStats stats = new PhoneStats(Arrays.asList("enc.fc1", "dec.fc1"), -24, 256, 40 * 256);
        stats.addRow("enc.fc1", new int[] {3000}, new double[] {2}, new double[] {2, 1, 1, 0.75, 0.25, 0.5});
        stats.addRow("dec.fc1", new int[] {3100}, new double[] {1}, new double[] {1, 1, 1, 1, 1, 0.5});
        Map<String, Object> prov = new LinkedHashMap<String, Object>();
        prov.put("app", "org.myqasr.demo 0.1");
        prov.put("runtime", "executorch-android 1.5.1");
        prov.put("clips", 8L);
        prov.put("seconds", 28.4);
        File f = new File(tmp.getRoot(), name);
        StatsFile.write(f, StatsFile.bytes(stats, "openai/whisper-tiny.en", "abc", 8, 28.4, prov));
        return f;
    }

    @Test
    public void whatLeavesThePhoneIsReadFromTheFile() throws Exception {
        File f = statsFile("phone.stats");
        StatsFileSummary s = StatsFileSummary.read(f);
        assertEquals(f.length(), s.bytes);
        assertEquals(2, s.tensors.size());
        assertEquals("F64 [10240]", s.tensorKind());
        assertEquals(Arrays.asList("format", "version", "model_id", "weights_sha256", "clips", "layers", "provenance"),
                new java.util.ArrayList<String>(s.metadata.keySet()));
        assertEquals("phone", s.provenance.get("computed_on"));
        assertTrue(s.layerFields.toString(), s.layerFields.contains("median"));
        String d = s.describe();
        assertTrue(d, d.startsWith("phone.stats: 0.16 MB (" + f.length() + " bytes) is all that leaves the phone."));
        assertTrue(d, d.contains("- 2 histograms, one per layer (F64 [10240])"));
        assertTrue(d, d.contains("- metadata: format, version, model_id, weights_sha256, clips, layers, provenance"));
        assertTrue(d, d.contains("computed_on=phone; app=org.myqasr.demo 0.1; runtime=executorch-android 1.5.1;"
                + " clips=8; seconds=28.4;"));
        for (String field : s.metadata.keySet()) {
            assertFalse(field, field.contains("audio") || field.contains("text"));
        }
    }

    @Test
    public void notAStatisticsFileIsOneSentence() throws Exception {
        File wav = tmp.newFile("x.stats");
        java.io.FileOutputStream out = new java.io.FileOutputStream(wav);
        out.write(WavWriter.pcmHeader(16000, 1, 16, 0));
        out.close();
        try {
            StatsFileSummary.read(wav);
            fail();
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("x.stats: not a statistics file"));
        }
    }

    @Test
    public void shareIntentInputsAndTheServedFiles() throws Exception {
        File f = statsFile("phone.stats");
        ShareSpec spec = ShareSpec.forFile(StatsFileSummary.read(f));
        assertEquals("content://org.myqasr.demo.share/phone.stats", spec.uri);
        assertEquals("myqasr statistics (8 clips, 28.4 s)", spec.subject);
        assertTrue(spec.text, spec.text.endsWith("myqasr personalize --stats phone.stats --budget-mb N"));
        File root = tmp.getRoot();
        assertEquals(f, ShareSpec.resolve(root, "/phone.stats"));
        assertNull(ShareSpec.resolve(root, "/other.stats"));                 // not there
        assertTrue(new File(root, "clips").mkdir());
        assertTrue(new File(root, "clips/a.wav").createNewFile());
        assertNull(ShareSpec.resolve(root, "/clips/a.wav"));                 // never audio
        assertNull(ShareSpec.resolve(root, "/../phone.stats"));
        assertNull(ShareSpec.resolve(root, "/clips/../phone.stats"));
        assertNull(ShareSpec.resolve(root, "/.phone.stats.tmp"));
        assertNull(ShareSpec.resolve(root, null));
    }

    @Test
    public void pickedClipsAreCopiedUnderASafeFreeName() throws Exception {
        ClipStore store = new ClipStore(new File(tmp.getRoot(), "clips"));
        Cancellation cancel = new Cancellation();
        File a = store.add(new ByteArrayInputStream(new byte[] {1, 2, 3}), "my clip.wav", cancel);
        File b = store.add(new ByteArrayInputStream(new byte[] {4}), "my clip.wav", cancel);
        File c = store.add(new ByteArrayInputStream(new byte[] {5}), "../x:y.WAV", cancel);
        assertEquals("my clip.wav", a.getName());
        assertEquals("my clip-2.wav", b.getName());
        assertEquals("clip.._x_y.WAV", c.getName());
        assertEquals(3, a.length());
        assertEquals(3, store.clips().size());
        try {
            store.add(new ByteArrayInputStream(new byte[1]), "song.mp3", cancel);
            fail();
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("song.mp3: not a .wav file"));
        }
        assertEquals(3, store.clips().size());
        assertEquals("rec-20261130-181500.wav", store.recordingFile(new java.util.Date(0)).getName().replaceAll(
                "\\d{8}-\\d{6}", "20261130-181500"));
        assertEquals(3, store.clear());
        assertEquals(0, store.clips().size());
    }

    @Test
    public void aCancelledCopyLeavesNothing() throws Exception {
        final Cancellation cancel = new Cancellation();
        ClipStore store = new ClipStore(tmp.newFolder("clips"));
        InputStream endless = new InputStream() {
            int n;

            @Override
            public int read() {
                return 0;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (++n == 3) {
                    cancel.cancel();
                }
                return len;
            }
        };
        try {
            store.add(endless, "long.wav", cancel);
            fail();
        } catch (Cancellation.Cancelled e) {
            assertEquals("Cancelled.", e.getMessage());
        }
        assertEquals(0, store.dir().listFiles().length);
    }

    @Test
    public void oneTaskAtATimeAndOnlyItsStopButton() {
        TaskGate gate = new TaskGate();
        assertTrue(gate.start(TaskGate.Task.COMPUTING));
        assertFalse(gate.start(TaskGate.Task.COPYING));
        assertEquals(TaskGate.Task.COMPUTING, gate.running());
        gate.finish();
        assertTrue(gate.start(TaskGate.Task.RECORDING));
        gate.finish();
        for (TaskGate.Button b : TaskGate.Button.values()) {
            assertEquals(b.name(), b == TaskGate.Button.CANCEL,
                    TaskGate.enabled(b, TaskGate.Task.COMPUTING, true));
            assertEquals(b.name(), b == TaskGate.Button.CANCEL,
                    TaskGate.enabled(b, TaskGate.Task.COMPARING, true));
            assertEquals(b.name(), b == TaskGate.Button.RECORD,
                    TaskGate.enabled(b, TaskGate.Task.RECORDING, true));
            assertEquals(b.name(), b != TaskGate.Button.CANCEL && b != TaskGate.Button.SHARE,
                    TaskGate.enabled(b, TaskGate.Task.NONE, false));
        }
        assertTrue(TaskGate.enabled(TaskGate.Button.SHARE, TaskGate.Task.NONE, true));
        for (TaskGate.Button b : TaskGate.Button.values()) {
            assertFalse(b.name(), TaskGate.enabled(b, TaskGate.Task.READING, true));
        }
    }
}
