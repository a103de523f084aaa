package org.myqasr.demo;

import android.media.AudioFormat;
import android.media.AudioRecord;
import android.media.MediaRecorder;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.LongForm;
import org.myqasr.demo.core.WavWriter;

/**
 * Records the microphone at 16 kHz, mono, 16-bit into a WAV file, on its own thread, for at most
 * {@link LongForm#MAX_RECORDING_SECONDS}. The samples go straight to the file in 0.2 s buffers (memory stays flat
 * however long the recording); the header is written first and rewritten with the sizes at the end.
 */
final class WavRecorder {
    static final int SAMPLE_RATE = 16000;

    interface Listener {
        /** Called on the recording thread when the file is complete (or failed: file null, message set). */
        void onFinished(File file, String error);
    }

    private final File file;
    private final Listener listener;
    private volatile boolean stopRequested;
    private volatile long recordedBytes;

    WavRecorder(File file, Listener listener) {
        this.file = file;
        this.listener = listener;
    }

    /** Requires the RECORD_AUDIO permission. */
    void start() throws AsrException {
        int minBuf = AudioRecord.getMinBufferSize(SAMPLE_RATE, AudioFormat.CHANNEL_IN_MONO,
                AudioFormat.ENCODING_PCM_16BIT);
        if (minBuf <= 0) {
            throw new AsrException("This device cannot record 16 kHz mono 16-bit audio");
        }
        final AudioRecord rec;
        try {
            rec = new AudioRecord(MediaRecorder.AudioSource.MIC, SAMPLE_RATE, AudioFormat.CHANNEL_IN_MONO,
                    AudioFormat.ENCODING_PCM_16BIT, Math.max(minBuf, SAMPLE_RATE));
        } catch (RuntimeException e) {
            throw new AsrException("Cannot open the microphone (" + e.getMessage() + ")");
        }
        if (rec.getState() != AudioRecord.STATE_INITIALIZED) {
            rec.release();
            throw new AsrException("The microphone is not available (is another app recording?)");
        }
        try {
            rec.startRecording();
        } catch (RuntimeException e) {
            rec.release();
            throw new AsrException("Cannot start recording (" + e.getMessage() + ")");
        }
        final int bufferBytes = Math.max(minBuf, SAMPLE_RATE / 5 * 2);
        Thread thread = new Thread(new Runnable() {
            @Override
            public void run() {
                record(rec, bufferBytes);
            }
        }, "wav-recorder");
        thread.start();
    }

    void stop() {
        stopRequested = true;
    }

    /** Seconds written so far (for the timer on screen). */
    double seconds() {
        return recordedBytes / 2.0 / SAMPLE_RATE;
    }

    private void record(AudioRecord rec, int bufferBytes) {
        RandomAccessFile out = null;
        String error = null;
        try {
            out = new RandomAccessFile(file, "rw");
            out.setLength(0);
            out.write(WavWriter.pcmHeader(SAMPLE_RATE, 1, 16, 0));
            byte[] buf = new byte[bufferBytes];
            long maxBytes = (long) (LongForm.MAX_RECORDING_SECONDS * SAMPLE_RATE) * 2;
            long data = 0;
            while (!stopRequested && data < maxBytes) {
                int n = rec.read(buf, 0, (int) Math.min(buf.length, maxBytes - data));
                if (n < 0) {
                    error = "Recording failed (AudioRecord error " + n + ")";
                    break;
                }
                out.write(buf, 0, n);
                data += n;
                recordedBytes = data;
            }
            out.seek(0);
            out.write(WavWriter.pcmHeader(SAMPLE_RATE, 1, 16, data));
            if (data == 0 && error == null) {
                error = "Nothing was recorded";
            }
        } catch (IOException e) {
            error = "Cannot write " + file.getName() + ": " + e.getMessage();
        } finally {
            try {
                rec.stop();
            } catch (IllegalStateException ignored) {
                // already stopped: nothing to undo
            }
            rec.release();
            if (out != null) {
                try {
                    out.close();
                } catch (IOException e) {
                    error = "Cannot write " + file.getName() + ": " + e.getMessage();
                }
            }
        }
        if (error != null) {
            file.delete();
        }
        listener.onFinished(error == null ? file : null, error);
    }
}
