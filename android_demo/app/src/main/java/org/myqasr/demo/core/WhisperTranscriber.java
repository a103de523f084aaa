package org.myqasr.demo.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Whisper greedy decoding over the {@code .pte}'s methods, exactly as the SDK's host runner does it
 * ({@code myqasr_export.runner.PteModel.whisper_greedy}):
 * <ol>
 * <li>pad or cut the 16 kHz PCM to n_samples; preprocess; encode (once per clip: the cross-attention K/V that
 * every decoder call takes);</li>
 * <li>feed decoder_start_ids one at a time at positions 0, 1, ...; the logits of the last one give the first
 * output;</li>
 * <li>each step: suppress_tokens get -inf (at the first step also begin_suppress_tokens); take the argmax;
 * stop at eos_id, or once max_new_tokens ids have been generated; otherwise feed the id back at the next
 * position;</li>
 * <li>text = GPT-2 byte decoding of the generated ids below first_special_id, then Python's strip().</li>
 * </ol>
 * A recording longer than n_samples goes through {@link #transcribeLong}, the SDK's long-form rule.
 */
public final class WhisperTranscriber implements Transcriber {
    private final WhisperMethods methods;
    private final Vocab vocab;
    private final Vocab.Whisper cfg;

    public WhisperTranscriber(WhisperMethods methods, Vocab vocab) {
        if (vocab.whisper == null) {
            throw new IllegalArgumentException("not a Whisper vocabulary");
        }
        this.methods = methods;
        this.vocab = vocab;
        this.cfg = vocab.whisper;
    }

    @Override
    public Transcript transcribe(float[] pcm) throws AsrException {
        if (pcm.length > cfg.nSamples) {
            return transcribeLong(pcm);
        }
        windows = 1;
        Map<String, Double> ms = Transcript.stages();
        Window w = decodeWindow(pcm, 0, pcm.length, false, ms);
        List<Integer> printable = new ArrayList<Integer>();
        for (int id : w.ids) {
            if (id < cfg.firstSpecialId) {
                printable.add(id);
            }
        }
        String text = PyText.strip(Gpt2ByteDecoder.decode(vocab.tokens, printable));
        return new Transcript(text, w.ids, ms, w.steps);
    }

    /**
     * A recording longer than the window: Whisper's sequential long-form method, by the SDK's rule
     * ({@link LongForm}): each window decoded with timestamps (prompt {@code <|startoftranscript|>} alone,
     * {@link TimestampRules} at every step), its complete segments kept, the next window starting where
     * {@link LongForm#windowSegments} says. {@code ids} are the kept ids, timestamps included.
     */
    public Transcript transcribeLong(float[] pcm) throws AsrException {
        Map<String, Double> ms = Transcript.stages();
        int timestampBegin = LongForm.noTimestampsId(vocab) + 1;
        List<Integer> kept = new ArrayList<Integer>();
        int seek = 0;
        int steps = 0;
        windows = 0;
        while (seek < pcm.length) {
            int samples = Math.min(cfg.nSamples, pcm.length - seek);
            Window w = decodeWindow(pcm, seek, samples, true, ms);
            LongForm.Step next = LongForm.windowSegments(w.ids, samples, timestampBegin);
            for (int id : next.kept) {
                kept.add(id);
            }
            steps += w.steps;
            windows++;
            seek += Math.min(next.advance, pcm.length - seek);
        }
        List<Integer> printable = new ArrayList<Integer>();
        for (int id : kept) {
            if (id < cfg.firstSpecialId) {
                printable.add(id);
            }
        }
        String text = PyText.strip(Gpt2ByteDecoder.decode(vocab.tokens, printable));
        return new Transcript(text, LongForm.toArray(kept), ms, steps);
    }

    private int windows = 1;

    /** Windows decoded by the last transcription (1 for a clip no longer than the window). */
    public int lastWindows() {
        return windows;
    }

    private static final class Window {
        final int[] ids;
        final int steps;

        Window(int[] ids, int steps) {
            this.ids = ids;
            this.steps = steps;
        }
    }

    /** pcm[start, start + samples) zero-padded to the window, preprocessed, encoded, decoded greedily. */
    private Window decodeWindow(float[] pcm, int start, int samples, boolean timestamps, Map<String, Double> ms)
            throws AsrException {
        long t0 = System.nanoTime();
        float[] window = new float[cfg.nSamples];
        System.arraycopy(pcm, start, window, 0, Math.min(samples, cfg.nSamples));
        float[] features = methods.preprocess(window);
        add(ms, "preprocess", Transcript.msSince(t0));
        long t1 = System.nanoTime();
        Object crossKv = methods.encode(features);
        add(ms, "encode", Transcript.msSince(t1));

        long t2 = System.nanoTime();
        int noTimestamps = timestamps ? LongForm.noTimestampsId(vocab) : -1;
        List<Integer> prompt = new ArrayList<Integer>();
        for (int id : cfg.decoderStartIds) {
            if (id != noTimestamps) {
                prompt.add(id);
            }
        }
        // the same cache positions as a short clip: fewer prompt ids leave room for more generated ones
        int maxNew = cfg.maxNewTokens + cfg.decoderStartIds.length - prompt.size();
        long position = 0;
        float[] logits = null;
        for (int id : prompt) {
            logits = step(id, crossKv, position++);
        }
        List<Integer> generated = new ArrayList<Integer>();
        for (int k = 0; k < maxNew; k++) {
            suppress(logits, cfg.suppressTokens);
            if (k == 0) {
                suppress(logits, cfg.beginSuppressTokens);
            }
            if (timestamps) {
                TimestampRules.apply(logits, generated, noTimestamps + 1, cfg.eosId, noTimestamps,
                        LongForm.MAX_INITIAL_TIMESTAMP);
            }
            int next = new Logits(logits, 1, logits.length).argmax(0);
            if (next == cfg.eosId) {
                break;
            }
            generated.add(next);
            if (k + 1 == maxNew) {
                break;
            }
            logits = step(next, crossKv, position++);
        }
        add(ms, "decode", Transcript.msSince(t2));
        return new Window(LongForm.toArray(generated), (int) position);
    }

    private static void add(Map<String, Double> ms, String stage, double value) {
        Double before = ms.get(stage);
        ms.put(stage, before == null ? value : before + value);
    }

    private float[] step(int token, Object crossKv, long position) throws AsrException {
        float[] logits = methods.decodeStep(token, crossKv, position);
        ModelCheck.vocabSize(logits.length, vocab);
        return logits;
    }

    private static void suppress(float[] logits, int[] ids) {
        for (int id : ids) {
            logits[id] = Float.NEGATIVE_INFINITY;
        }
    }
}
