package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** The AsrTranscribeConfig values: start token and length, from the sidecar or from tokenizer.json. */
public class RunnerConfigTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    /** The shape of Whisper tiny.en's tokenizer.json (vocab shortened): special tokens are "added_tokens". */
    static final String TOKENIZER = "{\"version\": \"1.0\", \"added_tokens\": ["
            + "{\"id\": 50256, \"content\": \"<|endoftext|>\", \"special\": true},"
            + "{\"id\": 50257, \"content\": \"<|startoftranscript|>\", \"special\": true},"
            + "{\"id\": 50362, \"content\": \"<|notimestamps|>\", \"special\": true}],"
            + "\"model\": {\"type\": \"BPE\", \"vocab\": {\"!\": 0, \"the\": 1}, \"merges\": []}}";

    /**
     * A Whisper sidecar (the parity fixture's, 64 tokens) with the prompt and the length set here, so that the
     * expected values do not hang on the fixture's.
     */
    static String sidecar(String decoderStartIds, int maxNewTokens) throws IOException {
        String json = new String(Fixtures.bytes(Fixtures.file("whisper/eos/model.vocab.json")), StandardCharsets.UTF_8);
        String out = json.replaceFirst("\"decoder_start_ids\": \\[[^\\]]*\\]",
                "\"decoder_start_ids\": [" + decoderStartIds + "]")
                .replaceFirst("\"max_new_tokens\": [0-9]+", "\"max_new_tokens\": " + maxNewTokens);
        if (out.equals(json)) {
            throw new IllegalStateException("the fixture's sidecar has no decoder_start_ids / max_new_tokens");
        }
        return out;
    }

    private File write(File dir, String name, String text) throws IOException {
        File f = new File(dir, name);
        FileOutputStream out = new FileOutputStream(f);
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.close();
        return f;
    }

    @Test
    public void fromTokenizerJsonTheStartTokenAndOneForcedPromptToken() throws Exception {
        RunnerConfig c = RunnerConfig.fromTokenizerJson(TOKENIZER, "tokenizer.json");
        assertEquals(50257L, c.decoderStartTokenId);
        assertEquals(128L + 1, c.maxNewTokens);
        assertEquals(0.0f, c.temperature, 0.0f);
        assertEquals("start token 50257, at most 129 new tokens, greedy (from tokenizer.json)", c.describe());
    }

    @Test
    public void fromTheSidecarTheRunnerStopsWhereTheJavaLoopStops() throws Exception {
        // decoder_start_ids [49, 51], max_new_tokens 24: the Java loop feeds both and generates 24; ExecuTorch's
        // loop feeds 49 and generates 51 (forced by the program) + 24
        RunnerConfig two = RunnerConfig.fromSidecar(Vocab.parse(sidecar("49, 51", 24), "model.vocab.json"));
        assertEquals(49L, two.decoderStartTokenId);
        assertEquals(25L, two.maxNewTokens);
        // a three-token prompt (e.g. start, language, no-timestamps): two of them come out of ExecuTorch's loop
        RunnerConfig three = RunnerConfig.fromSidecar(Vocab.parse(sidecar("49, 50, 51", 30), "model.vocab.json"));
        assertEquals(49L, three.decoderStartTokenId);
        assertEquals(32L, three.maxNewTokens);
    }

    @Test
    public void theSidecarWinsOverTheTokenizer() throws Exception {
        File dir = tmp.newFolder("export");
        write(dir, "tokenizer.json", TOKENIZER);
        AsrRunnerFiles withoutSidecar = new AsrRunnerFiles(new File(dir, "model.pte"), new File(dir, "model.ptd"),
                new File(dir, "preprocessor.pte"), new File(dir, "tokenizer.json"), null);
        assertEquals(50257L, RunnerConfig.load(withoutSidecar).decoderStartTokenId);
        File sidecar = write(dir, "model.vocab.json", sidecar("49, 51", 24));
        AsrRunnerFiles withSidecar = new AsrRunnerFiles(withoutSidecar.model, withoutSidecar.data,
                withoutSidecar.preprocessor, withoutSidecar.tokenizer, sidecar);
        RunnerConfig c = RunnerConfig.load(withSidecar);
        assertEquals(49L, c.decoderStartTokenId);
        assertEquals("model.vocab.json", c.source);
    }

    @Test
    public void aTokenizerWithoutTheStartTokenOrNotJsonIsRefusedInOneSentence() {
        String noStart = TOKENIZER.replace("<|startoftranscript|>", "<|startoflm|>");
        assertEquals("tokenizer.json: no added token <|startoftranscript|>; is it a Whisper tokenizer?",
                error(noStart));
        assertEquals("tokenizer.json: no \"added_tokens\" list; is it a Hugging Face tokenizer.json?",
                error("{\"model\": {}}"));
        assertEquals("tokenizer.json: no \"added_tokens\" list; is it a Hugging Face tokenizer.json?",
                error("{\"added_tokens\": [{\"id\": 1"));
        assertTrue(error("{\"added_tokens\": [{\"id\": 1, \"content\": }]}")
                .startsWith("tokenizer.json: not valid JSON in \"added_tokens\" ("));
        assertEquals("tokenizer.json: the added token <|startoftranscript|> has no valid \"id\"",
                error(TOKENIZER.replace("\"id\": 50257", "\"id\": -1")));
    }

    @Test
    public void onlyTheAddedTokensArrayIsCutOut() {
        // the key as a string value, and brackets and quotes inside token strings, do not confuse the cut
        String json = "{\"note\": \"added_tokens\", \"x\": [\"added_tokens\"], \"added_tokens\" : "
                + "[{\"id\": 5, \"content\": \"<|]|>\"}, {\"id\": 6, \"content\": \"a\\\"[b\"}], \"model\": {}}";
        assertEquals("[{\"id\": 5, \"content\": \"<|]|>\"}, {\"id\": 6, \"content\": \"a\\\"[b\"}]",
                RunnerConfig.addedTokensArray(json));
        assertEquals(null, RunnerConfig.addedTokensArray("{\"added_tokens\": 3}"));
    }

    @Test
    public void aCtcSidecarIsNotForTheRunner() throws Exception {
        try {
            RunnerConfig.fromSidecar(Vocab.load(Fixtures.file("ctc/model.vocab.json")));
            fail();
        } catch (AsrException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("is a wav2vec2 vocabulary"));
        }
    }

    private static String error(String json) {
        try {
            RunnerConfig.fromTokenizerJson(json, "tokenizer.json");
        } catch (AsrException e) {
            return e.getMessage();
        }
        throw new AssertionError("accepted");
    }
}
