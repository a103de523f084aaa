package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

public class VocabTest {
    static final String CTC = "{\"format\": \"myqasr-vocab\", \"version\": 1, \"arch\": \"wav2vec2\","
            + " \"tokens\": [\"<pad>\", \"|\", \"A\", \"B\"], \"sample_rate\": 16000,"
            + " \"ctc\": {\"blank_id\": 0, \"word_delimiter\": \"|\"}, \"pte_sha256\": \"ab\", \"scheme\": null}";
    static final String WHISPER = "{\"format\": \"myqasr-vocab\", \"version\": 1, \"arch\": \"whisper\","
            + " \"tokens\": [\"a\", \"b\", \"<|endoftext|>\", \"<|sot|>\"], \"sample_rate\": 16000,"
            + " \"whisper\": {\"n_samples\": 480000, \"decoder_start_ids\": [3], \"eos_id\": 2,"
            + " \"max_new_tokens\": 8, \"suppress_tokens\": [], \"begin_suppress_tokens\": [2],"
            + " \"first_special_id\": 2}}";

    static void expectError(String json, String fragment) {
        try {
            Vocab.parse(json, "m.vocab.json");
            fail("accepted: " + json);
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("m.vocab.json: "));
            assertTrue(e.getMessage(), e.getMessage().contains(fragment));
        }
    }

    @Test
    public void parsesBothArchsWithDefaults() throws AsrException {
        Vocab c = Vocab.parse(CTC, "m.vocab.json");
        assertEquals("wav2vec2", c.arch);
        assertEquals(4, c.tokens.length);
        assertEquals(0, c.ctc.blankId);
        assertEquals(320, c.ctc.inputMultiple); // the SDK runner's default
        assertEquals(1, c.ctc.minFrames);
        assertEquals(0, c.ctc.skipIds.length);
        assertEquals("ab", c.pteSha256);
        assertNull(c.scheme);
        assertNull(c.whisper);
        Vocab w = Vocab.parse(WHISPER, "m.vocab.json");
        assertArrayEquals(new int[] {3}, w.whisper.decoderStartIds);
        assertEquals(2, w.whisper.firstSpecialId);
        assertNull(w.ctc);
    }

    @Test
    public void parsesTheFixtureSidecars() throws Exception {
        Vocab c = Vocab.load(Fixtures.file("ctc/model.vocab.json"));
        assertEquals(160, c.ctc.inputMultiple);
        assertEquals(64, Vocab.load(Fixtures.file("whisper/eos/model.vocab.json")).tokens.length);
    }

    @Test
    public void explainsWhatIsWrong() {
        expectError("{\"tokens\": []", "not valid JSON");
        expectError("[1]", "not a myqasr vocabulary");
        expectError(CTC.replace("myqasr-vocab", "hf-vocab"), "not a myqasr vocabulary");
        expectError(CTC.replace("\"version\": 1", "\"version\": 2"), "version 2 is not supported");
        expectError(CTC.replace("wav2vec2", "conformer"), "unknown \"arch\"");
        expectError(CTC.replace("\"blank_id\": 0", "\"blank_id\": 9"), "\"ctc.blank_id\" = 9 is not a token id");
        expectError(CTC.replace("\"blank_id\": 0", "\"blank_id\": \"0\""), "\"ctc.blank_id\" is not an integer");
        expectError(CTC.replace(", \"ctc\": {\"blank_id\": 0, \"word_delimiter\": \"|\"}", ""), "\"ctc\" section");
        expectError(WHISPER.replace("\"eos_id\": 2,", ""), "\"whisper.eos_id\" is missing");
        expectError(WHISPER.replace("\"suppress_tokens\": []", "\"suppress_tokens\": [7]"),
                "\"whisper.suppress_tokens\" contains 7");
        expectError(WHISPER.replace("\"decoder_start_ids\": [3]", "\"decoder_start_ids\": []"), "is empty");
        expectError(WHISPER.replace("\"max_new_tokens\": 8", "\"max_new_tokens\": 0"), "must be positive");
        expectError(WHISPER.replace("}}", ", \"token_encoding\": \"sentencepiece\"}}"), "token_encoding");
    }

    @Test
    public void missingFileIsOneSentence() {
        try {
            Vocab.load(new java.io.File("/nonexistent/model.vocab.json"));
            fail();
        } catch (AsrException e) {
            assertEquals("model.vocab.json: vocabulary file not found", e.getMessage());
        }
    }
}
