package org.myqasr.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

/** ExecuTorch's error codes as names and a hint at the asr-runner file to fix. */
public class RunnerErrorsTest {
    @Test
    public void namesFollowExecuTorchsErrorH() {
        assertEquals("Ok", RunnerErrors.name(0));
        assertEquals("InvalidArgument", RunnerErrors.name(0x12));
        assertEquals("OperatorMissing", RunnerErrors.name(20));
        assertEquals("InvalidExternalData", RunnerErrors.name(36));
        assertEquals("DelegateInvalidHandle", RunnerErrors.name(0x32));
        assertEquals("error 999", RunnerErrors.name(999));
    }

    @Test
    public void loadFailuresPointAtTheLikelyFile() {
        assertEquals("model.pte: the ASR runner cannot load it (InvalidExternalData, code 36): the .ptd does not"
                + " belong to this .pte (push model.pte and model.ptd of the same export).",
                RunnerErrors.loadFailure("model.pte", 36));
        assertTrue(RunnerErrors.loadFailure("m.pte", 0x12).contains("lacks the methods encoder and text_decoder"));
        assertTrue(RunnerErrors.loadFailure("m.pte", 0x14).contains("executorch " + RuntimeCheck.EXECUTORCH_VERSION));
        assertTrue(RunnerErrors.loadFailure("m.pte", 1).endsWith("(Internal, code 1): adb logcat shows ExecuTorch's"
                + " message."));
    }
}
