package org.myqasr.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.Test;

/**
 * With the app's AsrTranscribeConfig values ({@link RunnerConfig#fromSidecar}), ExecuTorch's greedy loop makes the
 * same decoder calls as the host's greedy loop did on the ExecuTorch runtime: the same tokens fed at the same cache
 * positions, the same number of calls, the same ids out. The reference is fixtures/whisper/calls.json.gz, every call
 * the Python runtime made on one tiny Whisper {@code .pte} for two clips in a row (tests/test_android_parity.py):
 * clip "eos" ends at the end token, clip "max_new_tokens" is cut by its sidecar's max_new_tokens (4).
 *
 * <p>The loop below models {@code Seq2SeqRunner::transcribe} ({@code extension/asr/runner/seq2seq_runner.cpp}): feed
 * the start token at position 0, then each generated token at the next position; stop after {@code maxNewTokens}
 * generated tokens or at an end token. The program's answers are what the host loop chose (the prompt's next token
 * forced, then the clip's recorded ids, then eos): a program that holds Whisper's rules returns exactly those.
 */
public class RunnerLoopParityTest {
    /** One decoder call: the token fed and its cache position. */
    static final class Call {
        final long token;
        final long position;

        Call(long token, long position) {
            this.token = token;
            this.position = position;
        }
    }

    /** What ExecuTorch's loop did: its decoder calls and the tokens it generated. */
    static final class LoopRun {
        final List<Call> calls = new ArrayList<Call>();
        final List<Long> generated = new ArrayList<Long>();
    }

    /** ExecuTorch's loop over a program that answers {@code answers[position]}. */
    static LoopRun executorchLoop(RunnerConfig config, long eos, int[] answers) {
        LoopRun run = new LoopRun();
        long input = config.decoderStartTokenId;
        long position = 0;
        for (long generated = 0; generated < config.maxNewTokens; generated++) {
            run.calls.add(new Call(input, position));
            if (position >= answers.length) {
                throw new AssertionError("ExecuTorch's loop calls the decoder at position " + position
                        + ", past the host loop's last call");
            }
            long next = answers[(int) position];
            run.generated.add(next);
            position++;
            input = next;
            if (next == eos) {
                break;
            }
        }
        return run;
    }

    /** The host loop's answer at each position: the prompt after its first token, the clip's ids, then eos. */
    static int[] hostAnswers(int[] prompt, int[] ids, int eos) {
        int[] answers = new int[prompt.length - 1 + ids.length + 1];
        System.arraycopy(prompt, 1, answers, 0, prompt.length - 1);
        System.arraycopy(ids, 0, answers, prompt.length - 1, ids.length);
        answers[answers.length - 1] = eos;
        return answers;
    }

    /**
     * The text_decoder calls the runtime recorded for clip {@code clip} (0-based): each clip's calls start with its
     * preprocessor call.
     */
    static List<Call> recordedDecoderCalls(List<?> calls, int clip) {
        List<Call> out = new ArrayList<Call>();
        int seen = -1;
        for (Object o : calls) {
            Map<?, ?> c = (Map<?, ?>) o;
            if ("preprocessor".equals(c.get("method"))) {
                seen++;
            } else if (seen == clip && "text_decoder".equals(c.get("method"))) {
                List<?> inputs = (List<?>) c.get("inputs");
                out.add(new Call(onlyValue(inputs.get(0)), onlyValue(inputs.get(1))));
            }
        }
        return out;
    }

    private static long onlyValue(Object input) {
        List<?> values = (List<?>) ((Map<?, ?>) input).get("values");
        assertEquals("a token or position input holds one value", 1, values.size());
        return ((Number) values.get(0)).longValue();
    }

    static long[] tokens(List<Call> calls) {
        long[] out = new long[calls.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = calls.get(k).token;
        }
        return out;
    }

    static long[] positions(List<Call> calls) {
        long[] out = new long[calls.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = calls.get(k).position;
        }
        return out;
    }

    /**
     * The ids the host loop reports from what ExecuTorch's loop generated: everything after the forced prompt
     * tokens, up to (not including) eos. Timestamp tokens count; the fixture's tiny vocabulary has them.
     */
    static int[] hostIds(List<Long> generated, int forcedPromptTokens, long eos) {
        List<Integer> ids = new ArrayList<Integer>();
        for (int k = forcedPromptTokens; k < generated.size() && generated.get(k) != eos; k++) {
            ids.add((int) (long) generated.get(k));
        }
        return LongForm.toArray(ids);
    }

    /** Runs ExecuTorch's loop on clip {@code name} and checks it against the runtime's recorded calls. */
    @SuppressWarnings("unchecked")
    private static LoopRun sameCallsAsTheHost(String name) throws Exception {
        Map<String, Object> expected = PteModelParityTest.expected();
        List<?> clips = (List<?>) expected.get("clips");
        int index = -1;
        for (int k = 0; k < clips.size(); k++) {
            if (name.equals(((Map<?, ?>) clips.get(k)).get("case"))) {
                index = k;
            }
        }
        assertTrue("the fixtures have a clip " + name, index >= 0);
        Map<?, ?> clip = (Map<?, ?>) clips.get(index);
        Vocab vocab = Vocab.load(Fixtures.file("whisper/" + clip.get("vocab")));
        int[] ids = Fixtures.ints(clip.get("ids"));
        List<?> calls = (List<?>) ((Map<String, Object>) Json.parse(LongFormParityTest.gzText("whisper/"
                + expected.get("calls")))).get("calls");
        List<Call> recorded = recordedDecoderCalls(calls, index);
        assertEquals(name + ": recorded decoder calls", Fixtures.integer(clip.get("decoder_calls")), recorded.size());

        int eos = vocab.whisper.eosId;
        LoopRun run = executorchLoop(RunnerConfig.fromSidecar(vocab), eos,
                hostAnswers(vocab.whisper.decoderStartIds, ids, eos));

        assertArrayEquals(name + ": fed tokens", tokens(recorded), tokens(run.calls));
        assertArrayEquals(name + ": positions", positions(recorded), positions(run.calls));
        assertArrayEquals(name + ": ids", ids, hostIds(run.generated, vocab.whisper.decoderStartIds.length - 1, eos));
        return run;
    }

    @Test
    public void aClipThatEndsAtTheEndToken() throws Exception {
        LoopRun run = sameCallsAsTheHost("eos");
        assertEquals("the loop stopped at eos", 48L, (long) run.generated.get(run.generated.size() - 1));
        assertTrue("before the limit", run.calls.size() < 24 + 1);
    }

    @Test
    public void aClipCutByMaxNewTokens() throws Exception {
        LoopRun run = sameCallsAsTheHost("max_new_tokens");
        assertEquals("the loop stopped at the limit: max_new_tokens 4 + 1 forced prompt token", 5,
                run.generated.size());
        assertTrue("not at eos", run.generated.get(run.generated.size() - 1) != 48L);
    }

    @Test
    public void theRecordedCallsSplitByClip() throws Exception {
        Map<String, Object> expected = PteModelParityTest.expected();
        @SuppressWarnings("unchecked")
        List<?> calls = (List<?>) ((Map<String, Object>) Json.parse(LongFormParityTest.gzText("whisper/"
                + expected.get("calls")))).get("calls");
        assertArrayEquals(new long[] {0, 1, 2, 3, 4}, positions(recordedDecoderCalls(calls, 1)));
        assertArrayEquals(new long[] {49, 51, 8, 38, 62}, tokens(recordedDecoderCalls(calls, 1)));
        assertEquals(9, recordedDecoderCalls(calls, 0).size());
        assertEquals(0, recordedDecoderCalls(calls, 2).size());
    }
}
