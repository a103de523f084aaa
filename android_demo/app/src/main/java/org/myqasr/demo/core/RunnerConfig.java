package org.myqasr.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The values of ExecuTorch's {@code AsrTranscribeConfig(maxNewTokens, temperature, decoderStartTokenId)} for an
 * asr-runner export. ExecuTorch's loop feeds the start token at position 0 and counts every token after it as
 * generated, {@code <|notimestamps|>} (which the program forces at position 1) included; the app's Java loop feeds
 * the whole prompt and counts text tokens only. So {@code maxNewTokens} = the sidecar's {@code max_new_tokens} +
 * the prompt tokens after the first: both loops then stop at the same cache position.
 */
public final class RunnerConfig {
    /** Whisper's first prompt token, as tokenizer.json names it. */
    public static final String START_TOKEN = "<|startoftranscript|>";
    /** Text tokens per clip when no sidecar says otherwise (the SDK's default, as in model.vocab.json). */
    public static final int DEFAULT_TEXT_TOKENS = 128;
    /** Prompt tokens after the start token that ExecuTorch's loop generates: {@code <|notimestamps|>}. */
    public static final int DEFAULT_FORCED_PROMPT_TOKENS = 1;
    /** 0 makes ExecuTorch's runner use the program's own {@code sampler} method (argmax) instead of its own. */
    public static final float GREEDY = 0.0f;

    public final long maxNewTokens;
    public final float temperature;
    public final long decoderStartTokenId;
    /** Where the values came from, for the load summary. */
    public final String source;

    RunnerConfig(long maxNewTokens, long decoderStartTokenId, String source) {
        if (maxNewTokens <= 0) {
            throw new IllegalArgumentException("maxNewTokens must be positive, got " + maxNewTokens);
        }
        this.maxNewTokens = maxNewTokens;
        this.temperature = GREEDY;
        this.decoderStartTokenId = decoderStartTokenId;
        this.source = source;
    }

    /** From the model's sidecar: the first decoder_start_id, max_new_tokens + the rest of the prompt. */
    public static RunnerConfig fromSidecar(Vocab vocab) throws AsrException {
        if (vocab.whisper == null) {
            throw new AsrException(vocab.source + " is a " + vocab.arch + " vocabulary; the ExecuTorch ASR runner"
                    + " path is for Whisper exports");
        }
        int[] prompt = vocab.whisper.decoderStartIds;
        return new RunnerConfig(vocab.whisper.maxNewTokens + prompt.length - 1L, prompt[0], vocab.source);
    }

    /** From tokenizer.json alone: the id of {@link #START_TOKEN} among its added tokens, the default length. */
    public static RunnerConfig fromTokenizerJson(String json, String source) throws AsrException {
        return new RunnerConfig(DEFAULT_TEXT_TOKENS + DEFAULT_FORCED_PROMPT_TOKENS,
                addedTokenId(json, START_TOKEN, source), source);
    }

    /** The sidecar when the export wrote one, else tokenizer.json. */
    public static RunnerConfig load(AsrRunnerFiles files) throws AsrException {
        if (files.sidecar != null) {
            return fromSidecar(Vocab.load(files.sidecar));
        }
        return fromTokenizerJson(readUtf8(files.tokenizer), files.tokenizer.getName());
    }

    /**
     * The id of the added (special) token whose content is {@code content}, from a Hugging Face tokenizer.json.
     * Only its {@code "added_tokens"} array is parsed: the whole file (3.8 MB for Whisper, the BPE vocabulary and
     * merges) takes over a second to parse on a laptop.
     */
    public static long addedTokenId(String json, String content, String source) throws AsrException {
        String array = addedTokensArray(json);
        if (array == null) {
            throw new AsrException(source + ": no \"added_tokens\" list; is it a Hugging Face tokenizer.json?");
        }
        Object added;
        try {
            added = Json.parse(array);
        } catch (IllegalArgumentException e) {
            throw new AsrException(source + ": not valid JSON in \"added_tokens\" (" + e.getMessage() + ")");
        }
        if (!(added instanceof List)) {
            throw new AsrException(source + ": no \"added_tokens\" list; is it a Hugging Face tokenizer.json?");
        }
        for (Object t : (List<?>) added) {
            if (t instanceof Map && content.equals(((Map<?, ?>) t).get("content"))) {
                Object id = ((Map<?, ?>) t).get("id");
                if (id instanceof Long && (Long) id >= 0) {
                    return (Long) id;
                }
                throw new AsrException(source + ": the added token " + content + " has no valid \"id\"");
            }
        }
        throw new AsrException(source + ": no added token " + content + "; is it a Whisper tokenizer?");
    }

    /**
     * The text of the JSON array that follows the key {@code "added_tokens"} (a key: the quoted name, then a colon,
     * then the array), or null when there is none or it does not close. String contents are skipped, so brackets
     * and quotes inside token strings do not count.
     */
    static String addedTokensArray(String json) {
        String key = "\"added_tokens\"";
        for (int at = json.indexOf(key); at >= 0; at = json.indexOf(key, at + 1)) {
            int i = skipSpaces(json, at + key.length());
            if (i >= json.length() || json.charAt(i) != ':') {
                continue;
            }
            i = skipSpaces(json, i + 1);
            if (i >= json.length() || json.charAt(i) != '[') {
                continue;
            }
            int end = closingBracket(json, i);
            return end < 0 ? null : json.substring(i, end + 1);
        }
        return null;
    }

    /** The index of the ']' that closes the '[' at {@code open}, or -1. */
    private static int closingBracket(String json, int open) {
        int depth = 0;
        boolean inString = false;
        for (int i = open; i < json.length(); i++) {
            char c = json.charAt(i);
            if (inString) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
            } else if (c == '[' || c == '{') {
                depth++;
            } else if (c == ']' || c == '}') {
                depth--;
                if (depth == 0) {
                    return i;
                }
            }
        }
        return -1;
    }

    private static int skipSpaces(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
            i++;
        }
        return i;
    }

    /** e.g. "start token 50257, at most 129 new tokens, greedy (from model.vocab.json)". */
    public String describe() {
        return String.format(Locale.ROOT, "start token %d, at most %d new tokens, greedy (from %s)",
                decoderStartTokenId, maxNewTokens, source);
    }

    private static String readUtf8(File f) throws AsrException {
        InputStream in = null;
        try {
            in = new FileInputStream(f);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                bytes.write(buf, 0, n);
            }
            return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AsrException(f.getName() + ": cannot read the file (" + e.getMessage() + ")");
        } finally {
            Streams.closeQuietly(in);
        }
    }
}
