package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;

import org.junit.Test;

public class WavReaderTest {
    /** Every encoding libsndfile wrote for the fixtures reads back as soundfile's float64 mono mix. */
    @Test
    public void readsEveryEncodingLikeSoundfile() throws Exception {
        List<?> files = (List<?>) Fixtures.json("wav/expected.json").get("files");
        int read = 0;
        for (Object o : files) {
            Map<?, ?> f = (Map<?, ?>) o;
            String name = (String) f.get("name");
            if (f.containsKey("error")) {
                continue;
            }
            WavReader.Audio a = WavReader.read(Fixtures.file("wav/" + name), 0);
            assertEquals(name, Fixtures.integer(f.get("sample_rate")), a.sampleRate);
            assertEquals(name, Fixtures.integer(f.get("channels")), a.channels);
            assertEquals(name, Fixtures.integer(f.get("bits")), a.bitsPerSample);
            assertEquals(name, f.get("encoding"), a.encoding);
            assertEquals(name, Fixtures.integer(f.get("frames")), a.framesInFile);
            float[] want = Fixtures.f32("wav/" + f.get("mono"));
            assertEquals(name, 0f, Fixtures.maxAbsDiff(want, a.samples), 1e-7f);
            read++;
        }
        assertEquals(8, read);
    }

    @Test
    public void refusesEncodingsItCannotDecodeWithAHint() throws Exception {
        for (Object o : (List<?>) Fixtures.json("wav/expected.json").get("files")) {
            Map<?, ?> f = (Map<?, ?>) o;
            if (!f.containsKey("error")) {
                continue;
            }
            try {
                WavReader.read(Fixtures.file("wav/" + f.get("name")), 0);
                fail(f.get("name") + " was accepted");
            } catch (AsrException e) {
                assertTrue(e.getMessage(), e.getMessage().contains((String) f.get("error")));
                assertTrue(e.getMessage(), e.getMessage().contains("convert it to 16-bit PCM"));
            }
        }
    }

    static byte[] wav(int tag, int channels, int rate, int bits, byte[] data, boolean listChunkFirst, long dataSize) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] fmt = WavWriter.pcmHeader(rate, channels, bits, data.length);
        fmt[20] = (byte) tag;
        b.write(fmt, 0, 36);
        if (listChunkFirst) {
            byte[] list = {'L', 'I', 'S', 'T', 3, 0, 0, 0, 'a', 'b', 'c', 0}; // odd size + pad byte
            b.write(list, 0, list.length);
        }
        byte[] dataHeader = {'d', 'a', 't', 'a', (byte) dataSize, (byte) (dataSize >> 8), (byte) (dataSize >> 16),
            (byte) (dataSize >> 24)};
        b.write(dataHeader, 0, 8);
        b.write(data, 0, data.length);
        return b.toByteArray();
    }

    static WavReader.Audio read(byte[] file, double maxSeconds) throws Exception {
        return WavReader.read(new ByteArrayInputStream(file), "t.wav", maxSeconds);
    }

    @Test
    public void skipsOddChunksAndMixesChannels() throws Exception {
        byte[] data = {0, 0x40, 0, (byte) 0xc0, 0, 0x20, 0, 0x20}; // (0.5, -0.5), (0.25, 0.25)
        WavReader.Audio a = read(wav(1, 2, 8000, 16, data, true, data.length), 0);
        assertEquals(2, a.samples.length);
        assertEquals(0f, a.samples[0], 0f);
        assertEquals(0.25f, a.samples[1], 0f);
    }

    @Test
    public void unknownOrWrongDataSizeReadsWhatIsThere() throws Exception {
        byte[] data = new byte[2000];
        assertEquals(1000, read(wav(1, 1, 8000, 16, data, false, 0xffffffffL), 0).samples.length);
        assertEquals(1000, read(wav(1, 1, 8000, 16, data, false, 0), 0).samples.length);
        WavReader.Audio cut = read(wav(1, 1, 8000, 16, data, false, 100000), 0); // a cut-off recording
        assertEquals(1000, cut.samples.length);
        assertFalse(cut.truncated());
    }

    @Test
    public void stopsAtMaxSecondsAndSaysSo() throws Exception {
        byte[] data = new byte[16000 * 2 * 3]; // 3 s at 16 kHz
        WavReader.Audio a = read(wav(1, 1, 16000, 16, data, false, data.length), 1.0);
        assertEquals(16000, a.samples.length);
        assertEquals(48000, a.framesInFile);
        assertTrue(a.truncated());
        WavReader.Audio b = read(wav(1, 1, 16000, 16, data, false, 0xffffffffL), 1.0);
        assertEquals(48000, b.framesInFile);
    }

    @Test
    public void badFilesGetOneSentence() throws Exception {
        String[][] cases = {
            {"hello", "not a WAV file"},
            {"RIFF\0\0\0\0AVI LIST", "not a WAV file"},
            {"RIFX\0\0\0\0WAVE", "big-endian"},
            {"RIFF\0\0\0\0WAVE", "no fmt chunk"},
        };
        for (String[] c : cases) {
            try {
                read(c[0].getBytes("ISO-8859-1"), 0);
                fail(c[0]);
            } catch (AsrException e) {
                assertTrue(e.getMessage(), e.getMessage().startsWith("t.wav: ") && e.getMessage().contains(c[1]));
            }
        }
        byte[] noData = java.util.Arrays.copyOf(wav(1, 1, 8000, 16, new byte[0], false, 0), 36);
        expect(noData, "no data chunk");
        expect(wav(1, 1, 8000, 16, new byte[0], false, 0), "no audio samples");
        expect(wav(1, 0, 8000, 16, new byte[4], false, 4), "corrupt WAV header");
        expect(wav(1, 1, 8000, 12, new byte[4], false, 4), "unsupported WAV encoding (PCM, 12-bit)");
        expect(wav(2, 1, 8000, 4, new byte[4], false, 4), "MS ADPCM");
    }

    private static void expect(byte[] file, String fragment) throws Exception {
        try {
            read(file, 0);
            fail(fragment);
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(fragment));
        }
    }

    @Test
    public void recorderHeaderRoundTrips() throws Exception {
        byte[] pcm = {1, 0, (byte) 0xff, 0x7f, 0, (byte) 0x80};
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(WavWriter.pcmHeader(16000, 1, 16, pcm.length));
        b.write(pcm);
        WavReader.Audio a = read(b.toByteArray(), 0);
        assertEquals(16000, a.sampleRate);
        assertEquals(3, a.samples.length);
        assertEquals(32767 / 32768f, a.samples[1], 0f);
        assertEquals(-1f, a.samples[2], 0f);
        assertEquals("16000 Hz, 1 ch, 16-bit pcm, 0.00 s", a.describe());
    }
}
