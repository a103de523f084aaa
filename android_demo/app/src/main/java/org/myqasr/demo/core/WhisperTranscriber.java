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
        Map<String, Double> ms = Transcript.stages();
        long t0 = System.nanoTime();
        float[] features = methods.preprocess(java.util.Arrays.copyOf(pcm, cfg.nSamples));
        ms.put("preprocess", Transcript.msSince(t0));
        long t1 = System.nanoTime();
        Object crossKv = methods.encode(features);
        ms.put("encode", Transcript.msSince(t1));

        long t2 = System.nanoTime();
        long position = 0;
        float[] logits = null;
        for (int id : cfg.decoderStartIds) {
            logits = step(id, crossKv, position++);
        }
        List<Integer> generated = new ArrayList<Integer>();
        for (int k = 0; k < cfg.maxNewTokens; k++) {
            suppress(logits, cfg.suppressTokens);
            if (k == 0) {
                suppress(logits, cfg.beginSuppressTokens);
            }
            int next = new Logits(logits, 1, logits.length).argmax(0);
            if (next == cfg.eosId) {
                break;
            }
            generated.add(next);
            if (k + 1 == cfg.maxNewTokens) {
                break;
            }
            logits = step(next, crossKv, position++);
        }
        List<Integer> printable = new ArrayList<Integer>();
        int[] ids = new int[generated.size()];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = generated.get(k);
            if (ids[k] < cfg.firstSpecialId) {
                printable.add(ids[k]);
            }
        }
        String text = PyText.strip(Gpt2ByteDecoder.decode(vocab.tokens, printable));
        ms.put("decode", Transcript.msSince(t2));
        return new Transcript(text, ids, ms, (int) position);
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
