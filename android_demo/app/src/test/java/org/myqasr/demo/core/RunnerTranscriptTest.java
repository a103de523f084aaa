package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

/** Callback pieces into display text: special tokens out, ends stripped, as they arrive. */
public class RunnerTranscriptTest {
    @Test
    public void piecesBecomeTheTranscriptAsTheyArrive() {
        RunnerTranscript t = new RunnerTranscript();
        String[] pieces = {"<|notimestamps|>", " Hello", ",", " wor", "ld", ".", "<|endoftext|>"};
        String[] shown = {"", "Hello", "Hello,", "Hello, wor", "Hello, world", "Hello, world.", "Hello, world."};
        for (int k = 0; k < pieces.length; k++) {
            t.add(pieces[k], 1000L * (k + 1));
            assertEquals("after piece " + k, shown[k], t.displayText());
        }
        assertEquals(7, t.pieces());
        assertEquals(1000L, t.firstPieceNanos());
        assertEquals(7000L, t.lastPieceNanos());
        assertEquals("<|notimestamps|> Hello, world.<|endoftext|>", t.rawText());
    }

    @Test
    public void onlyWholeSpecialTokensAreRemoved() {
        assertEquals(" so  said", RunnerTranscript.withoutSpecialTokens("<|0.00|> so <|en|> said<|2.40|>"));
        assertEquals("a < b | c > d", RunnerTranscript.withoutSpecialTokens("a < b | c > d"));
        assertEquals("x <| y", RunnerTranscript.withoutSpecialTokens("x <| y"));
        assertEquals("caf\u00e9 na\u00efve", RunnerTranscript.textOf("<|startoftranscript|> caf\u00e9 na\u00efve\n"));
    }

    @Test
    public void nothingReceivedIsAnEmptyTranscript() {
        RunnerTranscript t = new RunnerTranscript();
        assertEquals("", t.displayText());
        assertEquals(0, t.pieces());
        assertEquals(-1L, t.firstPieceNanos());
    }
}
