package org.myqasr.demo.core;

/**
 * One task at a time on a screen, and which buttons that leaves enabled: while a task runs only its stop button
 * (Cancel, or the record button that now reads Stop) works; idle, everything works except Cancel, and Share only
 * once a statistics file exists. The screens call {@link #enabled} for each button after every change. The main
 * screen maps its buttons onto the same kinds: the three pickers are PICK, Transcribe / Transcribe all / Benchmark
 * are COMPUTE.
 */
public final class TaskGate {
    /** What is running. */
    public enum Task { NONE, READING, COPYING, RECORDING, COMPUTING, COMPARING, LOADING, TRANSCRIBING, BENCHMARKING }

    /** The buttons of the personalize and compare screens. */
    public enum Button { PICK, RECORD, COMPUTE, SHARE, CLEAR, COMPARE, CANCEL }

    private Task running = Task.NONE;

    public synchronized Task running() {
        return running;
    }

    /** Starts {@code t} if nothing runs; false (and nothing changes) when another task is running. */
    public synchronized boolean start(Task t) {
        if (running != Task.NONE || t == Task.NONE) {
            return false;
        }
        running = t;
        return true;
    }

    public synchronized void finish() {
        running = Task.NONE;
    }

    /** Whether {@code b} is enabled while {@code running} runs; {@code haveStats}: a statistics file exists. */
    public static boolean enabled(Button b, Task running, boolean haveStats) {
        if (running == Task.NONE) {
            return b != Button.CANCEL && (b != Button.SHARE || haveStats);
        }
        if (running == Task.RECORDING) {
            return b == Button.RECORD;      // the record button reads "Stop recording": stopping is its cancel
        }
        return b == Button.CANCEL && running != Task.READING;   // reading a file header is too short to cancel
    }
}
