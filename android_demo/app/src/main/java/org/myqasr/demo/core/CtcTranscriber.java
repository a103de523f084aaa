package org.myqasr.demo.core;

import java.util.Map;

/**
 * Wav2Vec2-CTC, as the SDK's host runner does it ({@code myqasr_export.runner}, {@code .vocab}): zero-pad the
 * waveform to a multiple of input_multiple (at least min_frames of them), run forward, then greedy CTC: argmax
 * per frame, collapse repeats, drop the blank; the text joins the tokens of the ids not in skip_ids, turns the
 * word delimiter into spaces and collapses whitespace (Python: {@code " ".join(text.replace(d, " ").split())}).
 */
public final class CtcTranscriber implements Transcriber {
    private final CtcMethods methods;
    private final Vocab vocab;

    public CtcTranscriber(CtcMethods methods, Vocab vocab) {
        if (vocab.ctc == null) {
            throw new IllegalArgumentException("not a CTC vocabulary");
        }
        this.methods = methods;
        this.vocab = vocab;
    }

    @Override
    public Transcript transcribe(float[] pcm) throws AsrException {
        Map<String, Double> ms = Transcript.stages();
        long t0 = System.nanoTime();
        Logits logits = methods.forward(padded(pcm, vocab.ctc));
        ms.put("forward", Transcript.msSince(t0));
        ModelCheck.vocabSize(logits.vocab, vocab);
        long t1 = System.nanoTime();
        int[] ids = greedyIds(logits, vocab.ctc.blankId);
        String text = text(ids, vocab);
        ms.put("decode", Transcript.msSince(t1));
        return new Transcript(text, ids, ms, 1);
    }

    /** The model input: pcm zero-padded to whole frames. */
    public static float[] padded(float[] pcm, Vocab.Ctc ctc) {
        long hop = ctc.inputMultiple;
        long n = Math.max(hop * ctc.minFrames, (pcm.length + hop - 1) / hop * hop);
        return n == pcm.length ? pcm : java.util.Arrays.copyOf(pcm, (int) n);
    }

    /** Collapsed, blank-free ids of the per-frame argmax path. */
    public static int[] greedyIds(Logits logits, int blankId) {
        int[] out = new int[logits.rows];
        int n = 0;
        int prev = -1;
        for (int t = 0; t < logits.rows; t++) {
            int id = logits.argmax(t);
            if (id != prev && id != blankId) {
                out[n++] = id;
            }
            prev = id;
        }
        return java.util.Arrays.copyOf(out, n);
    }

    public static String text(int[] ids, Vocab vocab) {
        StringBuilder b = new StringBuilder();
        for (int id : ids) {
            if (!contains(vocab.ctc.skipIds, id)) {
                b.append(vocab.tokens[id]);
            }
        }
        return PyText.collapseSpaces(b.toString().replace(vocab.ctc.wordDelimiter, " "));
    }

    private static boolean contains(int[] a, int x) {
        for (int v : a) {
            if (v == x) {
                return true;
            }
        }
        return false;
    }
}
