package org.myqasr.demo.core;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs the "Compare" mode: model A over every clip, then model B over every clip (one model in memory at a time),
 * through the same {@link DemoSession} calls as the main screen. Cancellable between clips and within a clip (each
 * decoder step checks the flag, see {@link Cancellation}). A clip one model cannot transcribe becomes an error on
 * that side; a model that does not load fails the whole comparison with its sentence.
 */
public final class CompareJob {
    /** A model to compare: the {@code .pte} and its vocabulary sidecar. */
    public static final class Model {
        public final File pte;
        public final File vocab;

        public Model(File pte, File vocab) {
            this.pte = pte;
            this.vocab = vocab;
        }
    }

    /** Progress, called on the worker thread: {@code done} of {@code total} transcriptions. */
    public interface Progress {
        void update(int done, int total, String what);
    }

    private CompareJob() {
    }

    /** Throws {@link Cancellation.Cancelled} when cancelled. */
    public static Comparison run(Model a, Model b, List<File> clips, LoadedModel.Loader loader, Cancellation cancel,
                                 Progress progress) throws AsrException {
        if (clips.isEmpty()) {
            throw new AsrException("No clips to compare on: add or record WAV clips first.");
        }
        LoadedModel.Loader cancellable = cancel.loader(loader);
        int total = 2 * clips.size();
        double[] seconds = new double[clips.size()];
        Comparison.Side[] sideA = side(a, clips, cancellable, cancel, progress, 0, total, seconds);
        Comparison.Side[] sideB = side(b, clips, cancellable, cancel, progress, clips.size(), total, seconds);
        List<Comparison.Row> rows = new ArrayList<Comparison.Row>();
        for (int i = 0; i < clips.size(); i++) {
            rows.add(new Comparison.Row(clips.get(i).getName(), seconds[i], sideA[i], sideB[i]));
        }
        return new Comparison(a.pte.getName(), b.pte.getName(), rows);
    }

    private static Comparison.Side[] side(Model m, List<File> clips, LoadedModel.Loader loader, Cancellation cancel,
                                          Progress progress, int done, int total, double[] seconds)
            throws AsrException {
        DemoSession session = new DemoSession();
        Comparison.Side[] out = new Comparison.Side[clips.size()];
        try {
            session.load(m.pte, m.vocab, loader);
            for (int i = 0; i < clips.size(); i++) {
                cancel.check();
                File clip = clips.get(i);
                progress.update(done + i, total, m.pte.getName() + ": " + clip.getName());
                try {
                    DemoSession.Result r = session.transcribe(session.readClip(clip));
                    seconds[i] = r.clip.seconds;
                    out[i] = Comparison.Side.ok(r.transcript.text, r.transcript.totalMs());
                } catch (Cancellation.Cancelled c) {
                    throw c;
                } catch (AsrException e) {
                    out[i] = Comparison.Side.failed(e.getMessage());
                }
            }
            progress.update(done + clips.size(), total, m.pte.getName() + ": done");
            return out;
        } finally {
            session.close();
        }
    }
}
