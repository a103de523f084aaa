package org.myqasr.demo.core;

import java.util.Locale;

/**
 * One clip transcribed by ExecuTorch's ASR runner, with its timings. The runner's loop is native, so the app
 * times what it sees: the whole {@code transcribe} call, and the token callbacks. The first piece arrives after
 * the preprocessor, the encoder and one decoder step; the pieces after it come one decoder step (+ sampler +
 * detokenizing) apart, so their spacing is the decoder's ms per token.
 */
public final class RunnerResult {
    public final String clipName;
    public final double audioSeconds;
    public final boolean truncated;
    /** Reading, mixing, resampling and writing the runner's WAV (ms). */
    public final double prepMs;
    /** The {@code transcribe} call (ms). */
    public final double transcribeMs;
    /** From the call to the first piece (ms), or -1 when none came. */
    public final double firstPieceMs;
    /** From the first piece to the last (ms); 0 with fewer than two pieces. */
    public final double laterPiecesMs;
    /** Token callbacks (one per generated token; {@code <|notimestamps|>} and the end token included). */
    public final int tokens;
    public final String text;

    public RunnerResult(String clipName, double audioSeconds, boolean truncated, double prepMs, double transcribeMs,
                        double firstPieceMs, double laterPiecesMs, int tokens, String text) {
        this.clipName = clipName;
        this.audioSeconds = audioSeconds;
        this.truncated = truncated;
        this.prepMs = prepMs;
        this.transcribeMs = transcribeMs;
        this.firstPieceMs = firstPieceMs;
        this.laterPiecesMs = laterPiecesMs;
        this.tokens = tokens;
        this.text = text;
    }

    /** Transcribe time over audio time: below 1 is faster than real time. */
    public double rtf() {
        return transcribeMs / 1000.0 / audioSeconds;
    }

    /** The whole call per token, encoder included; NaN without tokens. */
    public double msPerToken() {
        return tokens > 0 ? transcribeMs / tokens : Double.NaN;
    }

    /** The spacing of the pieces after the first: one decoder step each; NaN with fewer than two. */
    public double decoderMsPerToken() {
        return tokens > 1 ? laterPiecesMs / (tokens - 1) : Double.NaN;
    }

    /**
     * e.g. {@code clip.wav: "Hello there."} then
     * {@code audio 5.00 s | transcribe 1234 ms | RTF 0.247 | prep 9 ms} then
     * {@code first token 700 ms (preprocess + encode + 1 step) | 23 tokens, 53.7 ms/token, 24.3 ms/token after the first}.
     */
    public String describe() {
        StringBuilder b = new StringBuilder();
        b.append(clipName).append(": \"").append(text).append("\"\n");
        b.append(String.format(Locale.ROOT, "  audio %.2f s%s | transcribe %.0f ms | RTF %.3f | prep %.0f ms",
                audioSeconds, truncated ? " (cut to one 30 s window)" : "", transcribeMs, rtf(), prepMs));
        b.append("\n  ");
        if (firstPieceMs >= 0) {
            b.append(String.format(Locale.ROOT, "first token %.0f ms (preprocess + encode + 1 step) | ", firstPieceMs));
        }
        b.append(tokens).append(tokens == 1 ? " token" : " tokens");
        if (tokens > 0) {
            b.append(String.format(Locale.ROOT, ", %.1f ms/token", msPerToken()));
        }
        if (tokens > 1) {
            b.append(String.format(Locale.ROOT, ", %.1f ms/token after the first", decoderMsPerToken()));
        }
        return b.toString();
    }
}
