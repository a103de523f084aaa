package org.myqasr.demo.core;

import java.util.List;

/**
 * The phone's statistics pass over one clip at a time: the app's own greedy loop ({@link WhisperTranscriber}) on
 * the statistics program, every call's partial statistics streamed into {@link PhoneStats}, then the last token
 * (<|endoftext|>, or the last id when decoding stopped at max_new_tokens) fed once more, because the host's
 * teacher-forced pass also runs the decoder on it (the Java twin of myqasr_export.phonestats.StatsRunner). Only the
 * aggregates are kept: no audio, no text.
 */
public final class PhoneStatsRunner {
    private final StatsMethods methods;
    private final Vocab vocab;
    private final PhoneStats stats;
    private final List<String> encoderRows;
    private final List<String> decoderRows;
    private int clips;
    private double seconds;

    public PhoneStatsRunner(StatsMethods methods, Vocab vocab, PhoneStats stats, List<String> encoderRows,
                            List<String> decoderRows) {
        this.methods = methods;
        this.vocab = vocab;
        this.stats = stats;
        this.encoderRows = encoderRows;
        this.decoderRows = decoderRows;
    }

    /** Adds one clip of at most 30 s (16 kHz mono); returns its transcript (for the screen only, never stored). */
    public Transcript addClip(final float[] pcm) throws AsrException {
        final Vocab.Whisper w = vocab.whisper;
        if (pcm.length > w.nSamples) {
            throw new AsrException("a clip of " + pcm.length / (double) vocab.sampleRate + " s: the phone's statistics"
                    + " take clips of at most " + w.nSamples / (double) vocab.sampleRate + " s (cut it first)");
        }
        final Object[] crossKv = new Object[1];
        WhisperMethods probed = new WhisperMethods() {
            @Override
            public float[] preprocess(float[] window) throws AsrException {
                return methods.preprocess(window);
            }

            @Override
            public Object encode(float[] features) throws AsrException {
                StatsMethods.Call c = methods.encode(features, pcm.length);
                stats.add(encoderRows, c.hist, c.moments);
                crossKv[0] = c.crossKv;
                return c.crossKv;
            }

            @Override
            public float[] decodeStep(long token, Object kv, long position) throws AsrException {
                StatsMethods.Call c = methods.decodeStep(token, kv, position);
                stats.add(decoderRows, c.hist, c.moments);
                return c.logits;
            }
        };
        Transcript t = new WhisperTranscriber(probed, vocab).transcribe(pcm);
        boolean stoppedByEos = t.ids.length < w.maxNewTokens;
        long last = stoppedByEos ? w.eosId : t.ids[t.ids.length - 1];
        StatsMethods.Call c = methods.decodeStep(last, crossKv[0], t.steps);
        stats.add(decoderRows, c.hist, c.moments);
        clips++;
        seconds += pcm.length / (double) vocab.sampleRate;
        return t;
    }

    public int clips() {
        return clips;
    }

    public double seconds() {
        return seconds;
    }
}
