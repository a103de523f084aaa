package org.myqasr.demo.core;

import java.util.Locale;

/**
 * What the main screen says about stopping a task. The generic {@code Module} path (the app's Java loop) checks the
 * cancel flag before every decoder step or CTC forward ({@link Cancellation#loader}), so it stops within one step.
 * ExecuTorch's {@code AsrModule} has no stop call: its C++ loop decodes a whole clip once started, so the asr-runner
 * path stops between clips (or benchmark runs). Loading a model is one native call on both paths: a cancel pressed
 * during it closes the model as soon as the call returns.
 */
public final class MainTasks {
    private MainTasks() {
    }

    /** The cancel button's label while {@code running} runs; {@code asrRunner}: an AsrModule export is loaded. */
    public static String cancelLabel(TaskGate.Task running, boolean asrRunner) {
        if (asrRunner && (running == TaskGate.Task.TRANSCRIBING || running == TaskGate.Task.BENCHMARKING)) {
            return "Stop after this clip (AsrModule cannot stop inside one)";
        }
        return "Cancel";
    }

    /** The status line shown once Cancel is pressed during {@code running}. */
    public static String cancellingNote(TaskGate.Task running, boolean asrRunner) {
        switch (running) {
            case TRANSCRIBING:
            case BENCHMARKING:
                return asrRunner
                        ? "Stopping after the current clip: ExecuTorch's AsrModule has no stop call, so the clip it is"
                                + " decoding finishes first."
                        : "Stopping at the next decoder step...";
            case LOADING:
                return "Stopping: a model being loaded is closed as soon as loading returns (it cannot be"
                        + " interrupted).";
            case COPYING:
                return "Stopping: a file being copied is deleted, a model being loaded is closed once loading returns.";
            default:
                return "Stopping...";
        }
    }

    /** The line that ends a run of clips stopped by Cancel: how far it got. */
    public static String cancelledAfter(int done, int total) {
        return String.format(Locale.ROOT, "Cancelled after %d of %d clip(s).", done, total);
    }

    /** The text shown when a task ends by Cancel. */
    public static final String CANCELLED = "Cancelled.";
}
