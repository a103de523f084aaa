package org.myqasr.demo;

import android.app.Activity;
import android.os.Bundle;
import android.os.Debug;
import android.util.Log;
import android.widget.TextView;

import java.io.File;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.BenchConfig;
import org.myqasr.demo.core.BenchResult;
import org.myqasr.demo.core.BenchRunner;
import org.myqasr.demo.core.DemoSession;
import org.myqasr.demo.core.PhoneStatsJob;
import org.myqasr.demo.core.ProcStatus;
import org.myqasr.demo.core.RuntimeCheck;

/**
 * A scriptable benchmark in the style of ExecuTorch's minibench, started by adb (exported, no launcher icon):
 * {@code adb shell am start -S -n org.myqasr.demo/.BenchActivity --es model m.pte --ei runs 5 --ei warmup 1}.
 * Extras: see {@link BenchConfig}. It runs {@link BenchRunner} on a worker thread, writes {@code bench.json} to the
 * app's files folder (temp file + rename; on failure the same file with status "error"), logs one line with the
 * path under the tag {@value #TAG}, and finishes.
 */
public class BenchActivity extends Activity {
    static final String TAG = "myqasr-bench";
    static final String OUT_NAME = "bench.json";

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        final TextView status = new TextView(this);
        status.setText("myqasr benchmark running; results go to " + new File(files(), OUT_NAME));
        setContentView(status);
        final Map<String, Object> extras = extras(getIntent().getExtras());
        Thread worker = new Thread(new Runnable() {
            @Override
            public void run() {
                final String line = runAndWrite(extras);
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        status.setText(line);
                        finish();
                    }
                });
            }
        }, "myqasr-bench");
        worker.start();
    }

    private File files() {
        File f = getExternalFilesDir(null);
        return f != null ? f : getFilesDir();
    }

    private static Map<String, Object> extras(Bundle b) {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        if (b != null) {
            for (String k : b.keySet()) {
                m.put(k, b.get(k));
            }
        }
        return m;
    }

    /** Runs the benchmark and writes the file; returns the line it logged. */
    private String runAndWrite(Map<String, Object> extras) {
        File out = new File(files(), OUT_NAME);
        Map<String, Object> json;
        String line;
        DemoSession session = new DemoSession();
        try {
            String missing = RuntimeCheck.missingReason(getClassLoader());
            if (missing != null) {
                throw new AsrException(missing);
            }
            BenchConfig cfg = BenchConfig.fromExtras(extras, files());
            BenchResult r = BenchRunner.run(session, ExecuTorchModel.loader(cfg.threads), cfg, new Memory());
            json = r.toJson();
            line = String.format(java.util.Locale.ROOT, "bench.json: %s (median %.1f ms, RTF %.3f)",
                    out.getAbsolutePath(), r.latencyMedianMs, r.rtfMedian);
        } catch (AsrException | RuntimeException e) {
            json = BenchResult.errorJson(e.getMessage() != null ? e.getMessage() : e.toString());
            line = "bench.json: " + out.getAbsolutePath() + " (error: " + json.get("error") + ")";
        } finally {
            session.close();
        }
        try {
            BenchRunner.write(out, json);
            Log.i(TAG, line);
        } catch (IOException e) {
            line = "bench.json could not be written to " + out.getAbsolutePath() + ": " + e.getMessage();
            Log.e(TAG, line);
        }
        return line;
    }

    /** Peak RSS from /proc/self/status (VmHWM), native heap from android.os.Debug. */
    static final class Memory implements BenchRunner.MemoryProbe {
        @Override
        public long peakRssKb() {
            try {
                return ProcStatus.kb(PhoneStatsJob.readText(new File("/proc/self/status")), ProcStatus.PEAK_RSS);
            } catch (AsrException | IllegalArgumentException e) {
                Log.w(TAG, "cannot read VmHWM: " + e.getMessage());
                return -1;
            }
        }

        @Override
        public long nativeHeapBytes() {
            return Debug.getNativeHeapAllocatedSize();
        }
    }
}
