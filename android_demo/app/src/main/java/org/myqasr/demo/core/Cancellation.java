package org.myqasr.demo.core;

import java.io.File;

/**
 * A cancel flag that reaches into a running transcription: {@link #loader} wraps a model loader so that every
 * Whisper decoder step and every CTC forward first checks the flag and throws {@link Cancelled}. A long clip then
 * stops within one decoder step (tens of ms on a phone), not at the end of the clip.
 */
public final class Cancellation {
    private volatile boolean cancelled;

    public void cancel() {
        cancelled = true;
    }

    public void reset() {
        cancelled = false;
    }

    public boolean isCancelled() {
        return cancelled;
    }

    /** Throws {@link Cancelled} when cancelled. */
    public void check() throws Cancelled {
        if (cancelled) {
            throw new Cancelled();
        }
    }

    /** Thrown through the work when the user cancels. */
    public static final class Cancelled extends AsrException {
        private static final long serialVersionUID = 1L;

        public Cancelled() {
            super("Cancelled.");
        }
    }

    /** {@code inner}, whose models check this flag before each decoder step / forward. */
    public LoadedModel.Loader loader(final LoadedModel.Loader inner) {
        return new LoadedModel.Loader() {
            @Override
            public LoadedModel load(File pte) throws AsrException {
                check();
                return wrap(inner.load(pte));
            }
        };
    }

    private LoadedModel wrap(final LoadedModel m) {
        return new LoadedModel() {
            @Override
            public String[] methodNames() throws AsrException {
                return m.methodNames();
            }

            @Override
            public void loadMethods(String[] names) throws AsrException {
                m.loadMethods(names);
            }

            @Override
            public WhisperMethods whisper() {
                final WhisperMethods w = m.whisper();
                return new WhisperMethods() {
                    @Override
                    public float[] preprocess(float[] pcm) throws AsrException {
                        check();
                        return w.preprocess(pcm);
                    }

                    @Override
                    public Object encode(float[] features) throws AsrException {
                        check();
                        return w.encode(features);
                    }

                    @Override
                    public float[] decodeStep(long token, Object crossKv, long position) throws AsrException {
                        check();
                        return w.decodeStep(token, crossKv, position);
                    }
                };
            }

            @Override
            public CtcMethods ctc() {
                final CtcMethods c = m.ctc();
                return new CtcMethods() {
                    @Override
                    public Logits forward(float[] waveform) throws AsrException {
                        check();
                        return c.forward(waveform);
                    }
                };
            }

            @Override
            public void close() {
                m.close();
            }
        };
    }
}
