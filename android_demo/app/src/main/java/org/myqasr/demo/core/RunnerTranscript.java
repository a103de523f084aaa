package org.myqasr.demo.core;

import java.util.regex.Pattern;

/**
 * The pieces ExecuTorch's ASR runner streams through its token callback, one per generated token (the JNI layer
 * holds back a piece until its UTF-8 is complete, so one call may carry two tokens), turned into display text:
 * special tokens such as {@code <|notimestamps|>} and {@code <|endoftext|>} removed, ends stripped as the Java
 * loop does ({@link PyText#strip}). Records when the first and the last piece arrived, for the timings.
 * Fed on the thread that runs {@code transcribe}; read the text there and hand the String to the screen.
 */
public final class RunnerTranscript {
    /** {@code <|...|>}: Whisper's special and timestamp tokens, as the tokenizer spells them. */
    private static final Pattern SPECIAL_TOKEN = Pattern.compile("<\\|[^|<>]*\\|>");

    private final StringBuilder raw = new StringBuilder();
    private int pieces;
    private long firstPieceNanos = -1;
    private long lastPieceNanos = -1;

    /** Appends one callback piece that arrived at {@code nanos} (System.nanoTime()). */
    public void add(String piece, long nanos) {
        raw.append(piece);
        pieces++;
        if (firstPieceNanos < 0) {
            firstPieceNanos = nanos;
        }
        lastPieceNanos = nanos;
    }

    /** The text so far, for the screen: special tokens removed, leading and trailing whitespace stripped. */
    public String displayText() {
        return textOf(raw.toString());
    }

    /** Everything received, special tokens included. */
    public String rawText() {
        return raw.toString();
    }

    /** Callback calls so far: the generated tokens (the start token is fed, not generated). */
    public int pieces() {
        return pieces;
    }

    /** When the first piece arrived (System.nanoTime()), or -1 before any. */
    public long firstPieceNanos() {
        return firstPieceNanos;
    }

    public long lastPieceNanos() {
        return lastPieceNanos;
    }

    /** Removes every {@code <|...|>} token from {@code text}. */
    public static String withoutSpecialTokens(String text) {
        return SPECIAL_TOKEN.matcher(text).replaceAll("");
    }

    /** The transcript of a runner's text (streamed or returned by {@code transcribe}). */
    public static String textOf(String runnerText) {
        return PyText.strip(withoutSpecialTokens(runnerText));
    }
}
