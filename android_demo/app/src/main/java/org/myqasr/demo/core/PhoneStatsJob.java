package org.myqasr.demo.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * "Personalize on this phone": the statistics program over the user's WAV clips, aggregated on the phone, written
 * as the statistics file the host reads (`myqasr personalize --stats phone.stats`). Cancellable between clips and
 * between decoder steps; the file is written only when every clip was processed (temp file, then rename).
 */
public final class PhoneStatsJob {
    /** Progress and cancellation, called from the worker thread. */
    public interface Listener {
        void clipDone(int done, int total, String clip);

        boolean cancelled();
    }

    /** What was written: the file, its size and what it holds (what leaves the phone). */
    public static final class Result {
        public final File file;
        public final long bytes;
        public final int clips;
        public final double seconds;
        public final int layers;

        Result(File file, long bytes, int clips, double seconds, int layers) {
            this.file = file;
            this.bytes = bytes;
            this.clips = clips;
            this.seconds = seconds;
            this.layers = layers;
        }

        public String describe() {
            return String.format(java.util.Locale.ROOT, "%s: %.2f MB, %d clips (%.1f s) -> per layer (%d) a histogram of"
                    + " |output| and its summary (count, median, mean, std, max, min, percentiles, input range),"
                    + " the model id and weights hash, the clip count and seconds, where and with what it was"
                    + " computed. No audio, no text.", file.getName(), bytes / 1e6, clips, seconds, layers);
        }
    }

    private PhoneStatsJob() {
    }

    /**
     * Runs the program (its methods {@code methods}, its description {@code layersJson} = stats.layers.json and
     * vocabulary {@code vocab}) on {@code clips} and writes {@code out}. Returns null when cancelled (nothing written).
     */
    @SuppressWarnings("unchecked")
    public static Result run(final StatsMethods methods, String layersJson, Vocab vocab, List<File> clips, File out,
                             Map<String, Object> provenance, final Listener listener) throws AsrException {
        Map<String, Object> contract = (Map<String, Object>) Json.parse(layersJson);
        PhoneStats stats = PhoneStats.forProgram(contract);
        StatsMethods cancellable = new StatsMethods() {
            @Override
            public float[] preprocess(float[] pcm) throws AsrException {
                return methods.preprocess(pcm);
            }

            @Override
            public Call encode(float[] features, long nSamples) throws AsrException {
                return methods.encode(features, nSamples);
            }

            @Override
            public Call decodeStep(long token, Object crossKv, long position) throws AsrException {
                if (listener.cancelled()) {
                    throw new Cancelled();
                }
                return methods.decodeStep(token, crossKv, position);
            }
        };
        PhoneStatsRunner runner = new PhoneStatsRunner(cancellable, vocab, stats,
                strings(contract.get("encoder_layers")), strings(contract.get("decoder_layers")));
        try {
            for (int i = 0; i < clips.size(); i++) {
                if (listener.cancelled()) {
                    return null;
                }
                File clip = clips.get(i);
                WavReader.Audio audio = WavReader.read(clip, vocab.whisper.nSamples / (double) vocab.sampleRate);
                if (audio.truncated()) {
                    throw new AsrException(clip.getName() + ": longer than "
                            + vocab.whisper.nSamples / vocab.sampleRate + " s; cut it into shorter clips first");
                }
                runner.addClip(Resampler.resample(audio.samples, audio.sampleRate, vocab.sampleRate));
                listener.clipDone(i + 1, clips.size(), clip.getName());
            }
        } catch (Cancelled c) {
            return null;
        }
        Map<String, Object> prov = new LinkedHashMap<String, Object>(provenance);
        prov.put("clips", (long) runner.clips());
        prov.put("seconds", Math.round(runner.seconds() * 100) / 100.0);
        prov.put("program_sha256", contract.get("pte_sha256"));
        byte[] bytes = StatsFile.bytes(stats, (String) contract.get("model_id"), (String) contract.get("weights_sha256"),
                runner.clips(), runner.seconds(), prov);
        try {
            StatsFile.write(out, bytes);
        } catch (IOException e) {
            throw new AsrException(out.getName() + ": cannot write the statistics file (" + e.getMessage() + ")");
        }
        return new Result(out, bytes.length, runner.clips(), runner.seconds(), stats.layers().size());
    }

    /** A small UTF-8 text file (the program's stats.layers.json). */
    public static String readText(File f) throws AsrException {
        try {
            java.io.InputStream in = new java.io.FileInputStream(f);
            try {
                java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
                byte[] buf = new byte[65536];
                int n;
                while ((n = in.read(buf)) > 0) {
                    out.write(buf, 0, n);
                }
                return new String(out.toByteArray(), StandardCharsets.UTF_8);
            } finally {
                in.close();
            }
        } catch (IOException e) {
            throw new AsrException(f.getName() + ": cannot read (" + e.getMessage() + ")");
        }
    }

    private static List<String> strings(Object list) {
        List<String> out = new ArrayList<String>();
        for (Object o : (List<?>) list) {
            out.add((String) o);
        }
        return out;
    }

    /** Thrown through the greedy loop when the user cancels. */
    private static final class Cancelled extends AsrException {
        private static final long serialVersionUID = 1L;

        Cancelled() {
            super("cancelled");
        }
    }
}
