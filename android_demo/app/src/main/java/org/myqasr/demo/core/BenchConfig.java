package org.myqasr.demo.core;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * What {@code adb shell am start ... BenchActivity} asked for, checked. Extras: {@code model} (a .pte path; a
 * relative path is taken from the app's files folder), optional {@code vocab} (default: the sidecar next to the
 * model, {@code model.vocab.json}), {@code clips} (a folder of WAVs or one WAV; default: the files folder),
 * {@code runs} (measured passes over all clips, default 5), {@code warmup} (passes before them that are timed but
 * left out of the statistics, default 1), {@code threads} (the runtime's thread count, 0 = its default).
 * Numbers may come as {@code --ei} or as {@code --es} text.
 */
public final class BenchConfig {
    public static final int DEFAULT_RUNS = 5;
    public static final int DEFAULT_WARMUP = 1;
    public static final int MAX_PASSES = 1000;

    public final File model;
    public final File vocab;
    public final File clips;
    public final int runs;
    public final int warmup;
    public final int threads;

    public BenchConfig(File model, File vocab, File clips, int runs, int warmup, int threads) throws AsrException {
        if (runs < 1) {
            throw new AsrException("runs must be at least 1 (got " + runs + "): pass --ei runs N");
        }
        if (warmup < 0) {
            throw new AsrException("warmup must be 0 or more (got " + warmup + ")");
        }
        if ((long) runs + warmup > MAX_PASSES) {
            throw new AsrException("runs + warmup must be at most " + MAX_PASSES + " (got " + runs + " + " + warmup + ")");
        }
        if (threads < 0) {
            throw new AsrException("threads must be 0 (the runtime's default) or more (got " + threads + ")");
        }
        this.model = model;
        this.vocab = vocab;
        this.clips = clips;
        this.runs = runs;
        this.warmup = warmup;
        this.threads = threads;
    }

    /** From the intent's extras (key to value, as Bundle.get returns them); relative paths are under {@code base}. */
    public static BenchConfig fromExtras(Map<String, Object> extras, File base) throws AsrException {
        Object m = extras.get("model");
        if (!(m instanceof String) || ((String) m).isEmpty()) {
            throw new AsrException("No model: pass --es model <path.pte> (relative paths are under " + base + ")");
        }
        File model = resolve(base, (String) m);
        Object v = extras.get("vocab");
        File vocab = v instanceof String && !((String) v).isEmpty() ? resolve(base, (String) v)
                : new File(model.getParentFile(), ModelFiles.isPte(model.getName())
                        ? ModelFiles.vocabNameFor(model.getName()) : model.getName() + ModelFiles.VOCAB);
        Object c = extras.get("clips");
        File clips = c instanceof String && !((String) c).isEmpty() ? resolve(base, (String) c) : base;
        return new BenchConfig(model, vocab, clips, intArg(extras, "runs", DEFAULT_RUNS),
                intArg(extras, "warmup", DEFAULT_WARMUP), intArg(extras, "threads", 0));
    }

    /** An integer extra given with --ei (Integer) or --es / --el (text, Long); {@code dflt} when absent. */
    static int intArg(Map<String, Object> extras, String name, int dflt) throws AsrException {
        Object o = extras.get(name);
        if (o == null) {
            return dflt;
        }
        if (o instanceof Integer) {
            return (Integer) o;
        }
        try {
            long x = o instanceof Long ? (Long) o : Long.parseLong(o.toString().trim());
            if (x < Integer.MIN_VALUE || x > Integer.MAX_VALUE) {
                throw new NumberFormatException();
            }
            return (int) x;
        } catch (NumberFormatException e) {
            throw new AsrException(name + " must be an integer (got '" + o + "'): pass --ei " + name + " N");
        }
    }

    static File resolve(File base, String path) {
        File f = new File(path);
        return f.isAbsolute() ? f : new File(base, path);
    }

    /** The WAVs to time: {@code clips} itself if it is a file, else its .wav files sorted by name. */
    public List<File> clipFiles() throws AsrException {
        if (clips.isFile()) {
            return new ArrayList<File>(Arrays.asList(clips));
        }
        File[] files = clips.listFiles();
        if (files == null) {
            throw new AsrException("Clips: " + clips + " is neither a folder nor a file (pass --es clips <dir>)");
        }
        Arrays.sort(files);
        List<File> out = new ArrayList<File>();
        for (File f : files) {
            if (f.isFile() && ModelFiles.isWav(f.getName())) {
                out.add(f);
            }
        }
        if (out.isEmpty()) {
            throw new AsrException("No .wav clips in " + clips + ": adb push some there or pass --es clips <dir>");
        }
        return out;
    }
}
