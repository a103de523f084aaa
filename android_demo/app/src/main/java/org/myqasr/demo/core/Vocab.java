package org.myqasr.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The {@code model.vocab.json} sidecar a myqasr export writes next to {@code model.pte}
 * ({@code "format": "myqasr-vocab", "version": 1}): the id-to-token table plus the decoding settings.
 * Parsing checks every field, so a wrong or damaged file fails here with a message naming the field.
 */
public final class Vocab {
    public static final String ARCH_WHISPER = "whisper";
    public static final String ARCH_WAV2VEC2 = "wav2vec2";

    public final String source;
    public final String arch;
    public final String[] tokens;
    public final int sampleRate;
    public final Whisper whisper;
    public final Ctc ctc;
    public final String pteSha256;
    /** Set when the export keeps its weights in a separate .ptd file. */
    public final String ptdSha256;
    public final String modelId;
    public final String scheme;

    /** Whisper greedy-decoding settings. */
    public static final class Whisper {
        public final int nSamples;
        public final int[] decoderStartIds;
        public final int eosId;
        public final int maxNewTokens;
        public final int[] suppressTokens;
        public final int[] beginSuppressTokens;
        public final int firstSpecialId;

        Whisper(int nSamples, int[] decoderStartIds, int eosId, int maxNewTokens, int[] suppressTokens,
                int[] beginSuppressTokens, int firstSpecialId) {
            this.nSamples = nSamples;
            this.decoderStartIds = decoderStartIds;
            this.eosId = eosId;
            this.maxNewTokens = maxNewTokens;
            this.suppressTokens = suppressTokens;
            this.beginSuppressTokens = beginSuppressTokens;
            this.firstSpecialId = firstSpecialId;
        }
    }

    /** CTC greedy-decoding settings. */
    public static final class Ctc {
        public final int blankId;
        public final String wordDelimiter;
        /** Ids left out of the text (the tokenizer's bos/eos/unk/pad). */
        public final int[] skipIds;
        /** The waveform is zero-padded to a multiple of this many samples (the model's frame hop). */
        public final int inputMultiple;
        /** ... and to at least minFrames * inputMultiple samples. */
        public final int minFrames;

        Ctc(int blankId, String wordDelimiter, int[] skipIds, int inputMultiple, int minFrames) {
            this.blankId = blankId;
            this.wordDelimiter = wordDelimiter;
            this.skipIds = skipIds;
            this.inputMultiple = inputMultiple;
            this.minFrames = minFrames;
        }
    }

    private Vocab(String source, String arch, String[] tokens, int sampleRate, Whisper whisper, Ctc ctc,
                  String pteSha256, String ptdSha256, String modelId, String scheme) {
        this.source = source;
        this.arch = arch;
        this.tokens = tokens;
        this.sampleRate = sampleRate;
        this.whisper = whisper;
        this.ctc = ctc;
        this.pteSha256 = pteSha256;
        this.ptdSha256 = ptdSha256;
        this.modelId = modelId;
        this.scheme = scheme;
    }

    public static Vocab load(File file) throws AsrException {
        if (!file.isFile()) {
            throw new AsrException(file.getName() + ": vocabulary file not found");
        }
        InputStream in = null;
        try {
            in = new FileInputStream(file);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            byte[] buf = new byte[65536];
            int n;
            while ((n = in.read(buf)) > 0) {
                bytes.write(buf, 0, n);
            }
            return parse(new String(bytes.toByteArray(), StandardCharsets.UTF_8), file.getName());
        } catch (IOException e) {
            throw new AsrException(file.getName() + ": cannot read the vocabulary file (" + e.getMessage() + ")");
        } finally {
            Streams.closeQuietly(in);
        }
    }

    /** Parses and checks the sidecar; {@code source} names it in messages. */
    public static Vocab parse(String json, String source) throws AsrException {
        Object root;
        try {
            root = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new AsrException(source + ": not valid JSON (" + e.getMessage() + "); pick the .vocab.json file"
                    + " exported with the model");
        }
        if (!(root instanceof Map)) {
            throw new AsrException(source + ": not a myqasr vocabulary (expected a JSON object)");
        }
        Fields f = new Fields(source, (Map<?, ?>) root, "");
        if (!"myqasr-vocab".equals(f.raw("format"))) {
            throw new AsrException(source + ": not a myqasr vocabulary (\"format\" is not \"myqasr-vocab\")");
        }
        int version = f.integer("version");
        if (version != 1) {
            throw new AsrException(source + ": vocabulary version " + version + " is not supported (this app reads"
                    + " version 1); update the app");
        }
        String arch = f.string("arch");
        if (!ARCH_WHISPER.equals(arch) && !ARCH_WAV2VEC2.equals(arch)) {
            throw new AsrException(source + ": unknown \"arch\" \"" + arch + "\" (expected whisper or wav2vec2)");
        }
        List<?> list = f.list("tokens");
        if (list.isEmpty()) {
            throw new AsrException(source + ": \"tokens\" is empty");
        }
        String[] tokens = new String[list.size()];
        for (int k = 0; k < tokens.length; k++) {
            Object t = list.get(k);
            if (t == null) {
                t = ""; // an id the tokenizer has no string for
            }
            if (!(t instanceof String)) {
                throw new AsrException(source + ": \"tokens\"[" + k + "] is not a string");
            }
            tokens[k] = (String) t;
        }
        int sampleRate = f.has("sample_rate") ? f.integer("sample_rate") : 16000;
        if (sampleRate < 1000 || sampleRate > 192000) {
            throw new AsrException(source + ": \"sample_rate\" " + sampleRate + " is out of range");
        }
        Whisper whisper = null;
        Ctc ctc = null;
        int v = tokens.length;
        if (ARCH_WHISPER.equals(arch)) {
            Fields w = f.section("whisper");
            if (w.has("token_encoding") && !"gpt2_bytes".equals(w.string("token_encoding"))) {
                throw new AsrException(source + ": whisper.token_encoding \"" + w.string("token_encoding")
                        + "\" is not supported (this app reads gpt2_bytes); update the app");
            }
            int firstSpecial = w.integer("first_special_id");
            if (firstSpecial < 0 || firstSpecial > v) {
                throw new AsrException(source + ": whisper.first_special_id " + firstSpecial + " is outside 0.." + v);
            }
            whisper = new Whisper(w.positive("n_samples"), w.ids("decoder_start_ids", v, true), w.id("eos_id", v),
                    w.positive("max_new_tokens"), w.ids("suppress_tokens", v, false),
                    w.ids("begin_suppress_tokens", v, false), firstSpecial);
        } else {
            Fields c = f.section("ctc");
            String delimiter = c.has("word_delimiter") ? c.string("word_delimiter") : "|";
            int[] skip = c.has("skip_ids") ? c.ids("skip_ids", v, false) : new int[0];
            int multiple = c.has("input_multiple") ? c.positive("input_multiple") : 320;
            int minFrames = c.has("min_frames") ? c.positive("min_frames") : 1;
            ctc = new Ctc(c.id("blank_id", v), delimiter, skip, multiple, minFrames);
        }
        return new Vocab(source, arch, tokens, sampleRate, whisper, ctc, f.optionalString("pte_sha256"),
                f.optionalString("ptd_sha256"), f.optionalString("model_id"), f.optionalString("scheme"));
    }

    /** Typed access to one JSON object, with messages that name the file and the field path. */
    private static final class Fields {
        private final String source;
        private final Map<?, ?> map;
        private final String prefix;

        Fields(String source, Map<?, ?> map, String prefix) {
            this.source = source;
            this.map = map;
            this.prefix = prefix;
        }

        boolean has(String key) {
            return map.containsKey(key) && map.get(key) != null;
        }

        Object raw(String key) {
            return map.get(key);
        }

        private AsrException bad(String key, String problem) {
            return new AsrException(source + ": \"" + prefix + key + "\" " + problem);
        }

        Object required(String key) throws AsrException {
            if (!has(key)) {
                throw bad(key, "is missing");
            }
            return map.get(key);
        }

        String string(String key) throws AsrException {
            Object o = required(key);
            if (!(o instanceof String)) {
                throw bad(key, "is not a string");
            }
            return (String) o;
        }

        String optionalString(String key) {
            Object o = map.get(key);
            return o instanceof String ? (String) o : null;
        }

        int integer(String key) throws AsrException {
            return toInt(key, required(key));
        }

        private int toInt(String key, Object o) throws AsrException {
            if (!(o instanceof Long) || (Long) o > Integer.MAX_VALUE || (Long) o < Integer.MIN_VALUE) {
                throw bad(key, "is not an integer");
            }
            return ((Long) o).intValue();
        }

        int positive(String key) throws AsrException {
            int n = integer(key);
            if (n <= 0) {
                throw bad(key, "must be positive");
            }
            return n;
        }

        int id(String key, int vocabSize) throws AsrException {
            int n = integer(key);
            if (n < 0 || n >= vocabSize) {
                throw bad(key, "= " + n + " is not a token id (the vocabulary has " + vocabSize + " tokens)");
            }
            return n;
        }

        List<?> list(String key) throws AsrException {
            Object o = required(key);
            if (!(o instanceof List)) {
                throw bad(key, "is not a list");
            }
            return (List<?>) o;
        }

        int[] ids(String key, int vocabSize, boolean nonEmpty) throws AsrException {
            List<?> l = list(key);
            if (nonEmpty && l.isEmpty()) {
                throw bad(key, "is empty");
            }
            int[] out = new int[l.size()];
            for (int k = 0; k < out.length; k++) {
                int n = toInt(key, l.get(k));
                if (n < 0 || n >= vocabSize) {
                    throw bad(key, "contains " + n + ", not a token id (the vocabulary has " + vocabSize + " tokens)");
                }
                out[k] = n;
            }
            return out;
        }

        Fields section(String key) throws AsrException {
            Object o = map.get(key);
            if (!(o instanceof Map)) {
                throw new AsrException(source + ": arch needs a \"" + key + "\" section");
            }
            return new Fields(source, (Map<?, ?>) o, prefix + key + ".");
        }
    }
}
