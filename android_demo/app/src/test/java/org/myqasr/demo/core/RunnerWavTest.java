package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The WAV handed to ExecuTorch's runner holds exactly the app's samples, in the layout its loader reads. */
public class RunnerWavTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static final float[] PCM = {0f, 0.5f, -0.25f, 1f, -1f, 1e-7f, 0.123456789f};

    @Test
    public void theHeaderIsWhatExecuTorchsWavLoaderReads() {
        ByteBuffer b = ByteBuffer.wrap(RunnerWav.bytes(PCM, 16000)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals("RIFF", ascii(b, 0));
        assertEquals("WAVE", ascii(b, 8));
        assertEquals("fmt ", ascii(b, 12));
        assertEquals(16, b.getInt(16));              // fmt size: the loader looks for "data" from 12 + 8 + 16
        assertEquals(3, b.getShort(20));             // IEEE float: copied as is, never rescaled
        assertEquals(1, b.getShort(22));             // mono: the loader does not mix channels
        assertEquals(16000, b.getInt(24));           // 16 kHz: it does not resample
        assertEquals(16000 * 4, b.getInt(28));
        assertEquals(4, b.getShort(32));
        assertEquals(32, b.getShort(34));            // it reads 16- and 32-bit samples only
        assertEquals("data", ascii(b, 36));
        assertEquals(4 * PCM.length, b.getInt(40));
        assertEquals(36 + 4 * PCM.length, b.getInt(4));
        assertEquals(44 + 4 * PCM.length, b.capacity());
        for (int k = 0; k < PCM.length; k++) {
            assertEquals(Float.floatToRawIntBits(PCM[k]), b.getInt(44 + 4 * k));
        }
    }

    @Test
    public void theAppsOwnReaderGetsTheSameSamplesBack() throws Exception {
        WavReader.Audio a = WavReader.read(new ByteArrayInputStream(RunnerWav.bytes(PCM, 16000)), "x.wav", 0);
        assertArrayEquals(PCM, a.samples, 0f);
        assertEquals("float", a.encoding);
        File f = tmp.newFile("runner.wav");
        RunnerWav.write(f, PCM, 16000);
        assertArrayEquals(PCM, WavReader.read(f, 0).samples, 0f);
        assertEquals(16000, WavReader.read(f, 0).sampleRate);
    }

    private static String ascii(ByteBuffer b, int offset) {
        byte[] four = new byte[4];
        for (int k = 0; k < 4; k++) {
            four[k] = b.get(offset + k);
        }
        return new String(four, StandardCharsets.US_ASCII);
    }
}
