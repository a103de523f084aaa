package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.Test;

public class ResamplerTest {
    /** 8, 11.025, 16 (identity), 22.05, 24, 32, 44.1 and 48 kHz to 16 kHz: the Python reference, to 1e-6. */
    @Test
    public void matchesThePythonReferenceAtEveryRate() throws Exception {
        for (Object o : (List<?>) Fixtures.json("wav/expected.json").get("files")) {
            Map<?, ?> f = (Map<?, ?>) o;
            if (f.containsKey("error")) {
                continue;
            }
            float[] mono = Fixtures.f32("wav/" + f.get("mono"));
            float[] want = Fixtures.f32("wav/" + f.get("mono_16k"));
            float[] got = Resampler.resample(mono, Fixtures.integer(f.get("sample_rate")), 16000);
            assertEquals(f.get("name") + "", 0f, Fixtures.maxAbsDiff(want, got), 1e-6f);
        }
    }

    @Test
    public void lengthIsCeilOfTheRatio() {
        assertEquals(6561, Resampler.resample(new float[9041], 22050, 16000).length); // ceil(9041 * 320 / 441)
        assertEquals(2, Resampler.resample(new float[1], 8000, 16000).length);
        assertEquals(1, Resampler.resample(new float[3], 48000, 16000).length);
        float[] x = {1, 2, 3};
        float[] same = Resampler.resample(x, 16000, 16000);
        assertArrayEquals(x, same, 0f);
        assertTrue(same != x);
    }

    private static double rms(float[] x, int from, int to) {
        double s = 0;
        for (int k = from; k < to; k++) {
            s += x[k] * (double) x[k];
        }
        return Math.sqrt(s / (to - from));
    }

    private static float[] tone(double hz, int rate, int n) {
        float[] x = new float[n];
        for (int k = 0; k < n; k++) {
            x[k] = (float) Math.sin(2 * Math.PI * hz * k / rate);
        }
        return x;
    }

    /** Band-limited: a 1 kHz tone keeps its level, a 10 kHz tone (above 8 kHz Nyquist) is removed, not aliased. */
    @Test
    public void passesSpeechBandAndRemovesAliases() {
        float[] pass = Resampler.resample(tone(1000, 48000, 48000), 48000, 16000);
        float[] stop = Resampler.resample(tone(10000, 48000, 48000), 48000, 16000);
        double inRms = Math.sqrt(0.5);
        assertEquals(inRms, rms(pass, 1000, 15000), 0.01);
        assertTrue("10 kHz leaks at " + rms(stop, 1000, 15000), rms(stop, 1000, 15000) < inRms * 0.01);
        float[] up = Resampler.resample(tone(440, 22050, 22050), 22050, 16000);
        assertEquals(inRms, rms(up, 1000, 15000), 0.01);
    }
}
