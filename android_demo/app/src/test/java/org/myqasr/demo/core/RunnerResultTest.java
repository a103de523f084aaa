package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

/** The timing summary of one clip through ExecuTorch's runner. */
public class RunnerResultTest {
    @Test
    public void rtfAndMillisecondsPerToken() {
        // 5 s of audio in 1234 ms; the first of 23 pieces after 700 ms, the last 22 pieces over 534.6 ms
        RunnerResult r = new RunnerResult("clip.wav", 5.0, false, 9.4, 1234.0, 700.0, 534.6, 23, "Hello there.");
        assertEquals(0.2468, r.rtf(), 1e-9);
        assertEquals(1234.0 / 23, r.msPerToken(), 1e-9);
        assertEquals(24.3, r.decoderMsPerToken(), 1e-9);
        assertEquals("clip.wav: \"Hello there.\"\n"
                + "  audio 5.00 s | transcribe 1234 ms | RTF 0.247 | prep 9 ms\n"
                + "  first token 700 ms (preprocess + encode + 1 step) | 23 tokens, 53.7 ms/token,"
                + " 24.3 ms/token after the first", r.describe());
    }

    @Test
    public void fewTokensAndACutClipAreSaidPlainly() {
        RunnerResult none = new RunnerResult("long.wav", 30.0, true, 50, 900, -1, 0, 0, "");
        assertTrue(Double.isNaN(none.msPerToken()));
        assertTrue(Double.isNaN(none.decoderMsPerToken()));
        String d = none.describe();
        assertTrue(d, d.contains("audio 30.00 s (cut to one 30 s window)"));
        assertTrue(d, d.endsWith("\n  0 tokens"));
        assertFalse(d, d.contains("first token"));

        RunnerResult one = new RunnerResult("a.wav", 1.0, false, 1, 400, 390, 0, 1, "");
        assertTrue(Double.isNaN(one.decoderMsPerToken()));
        assertTrue(one.describe(), one.describe().endsWith("| 1 token, 400.0 ms/token"));
    }
}
