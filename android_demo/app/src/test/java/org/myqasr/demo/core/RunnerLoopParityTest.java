package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.Test;

/**
 * With the app's AsrTranscribeConfig values, ExecuTorch's greedy loop makes the same decoder calls as the SDK's
 * host loop: the same tokens fed at the same cache positions, the same ids out, on both Whisper parity fixtures (a
 * clip that ends at eos, one cut by max_new_tokens). The loop below models {@code Seq2SeqRunner::transcribe}
 * ({@code extension/asr/runner/seq2seq_runner.cpp}): feed the start token at position 0, then each generated token at
 * the next position; stop after {@code max_new_tokens} generated tokens or at an end token. The program's answers
 * are what the host loop chose (the prompt's next token forced, then the recorded ids, then eos): a program that
 * holds Whisper's rules returns exactly those.
 */
public class RunnerLoopParityTest {
    /** One decoder call of ExecuTorch's loop. */
    private static final class Call {
        final long token;
        final long position;

        Call(long token, long position) {
            this.token = token;
            this.position = position;
        }
    }

    /** ExecuTorch's loop over a program that answers {@code script[position]}. */
    private static List<Call> executorchLoop(RunnerConfig c, long eos, int[] script, List<Long> generatedOut) {
        List<Call> calls = new ArrayList<Call>();
        long input = c.decoderStartTokenId;
        long position = 0;
        for (long generated = 0; generated < c.maxNewTokens; generated++) {
            calls.add(new Call(input, position));
            if (position >= script.length) {
                throw new AssertionError("ExecuTorch's loop calls the decoder at position " + position
                        + ", past the host loop's last call");
            }
            long next = script[(int) position];
            generatedOut.add(next);
            position++;
            input = next;
            if (next == eos) {
                break;
            }
        }
        return calls;
    }

    private static void sameCallsAsTheHost(String fixture) throws Exception {
        Map<String, Object> expected = Fixtures.json("whisper/" + fixture + "/expected.json");
        Vocab vocab = Vocab.load(Fixtures.file("whisper/" + fixture + "/model.vocab.json"));
        int[] prompt = vocab.whisper.decoderStartIds;
        int[] ids = Fixtures.ints(expected.get("ids"));
        int[] script = new int[prompt.length - 1 + ids.length + 1];
        System.arraycopy(prompt, 1, script, 0, prompt.length - 1);
        System.arraycopy(ids, 0, script, prompt.length - 1, ids.length);
        script[script.length - 1] = vocab.whisper.eosId;

        List<Long> generated = new ArrayList<Long>();
        List<Call> calls = executorchLoop(RunnerConfig.fromSidecar(vocab), vocab.whisper.eosId, script, generated);

        int[] fed = new int[calls.size()];
        int[] positions = new int[calls.size()];
        for (int k = 0; k < calls.size(); k++) {
            fed[k] = (int) calls.get(k).token;
            positions[k] = (int) calls.get(k).position;
        }
        assertArrayEquals(fixture + ": fed tokens", Fixtures.ints(expected.get("fed_tokens")), fed);
        assertArrayEquals(fixture + ": positions", Fixtures.ints(expected.get("positions")), positions);
        assertEquals(fixture, ((Number) expected.get("decoder_calls")).intValue(), calls.size());
        List<Integer> text = new ArrayList<Integer>();
        for (long id : generated) {
            if (id < vocab.whisper.firstSpecialId) {
                text.add((int) id);
            }
        }
        assertArrayEquals(fixture + ": ids", ids, LongForm.toArray(text));
    }

    @Test
    public void aClipThatEndsAtTheEndToken() throws Exception {
        sameCallsAsTheHost("eos");
    }

    @Test
    public void aClipCutByMaxNewTokens() throws Exception {
        sameCallsAsTheHost("max_new_tokens");
    }
}
