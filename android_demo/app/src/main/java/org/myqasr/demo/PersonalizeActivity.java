package org.myqasr.demo;

import android.app.Activity;
import android.os.Bundle;
import android.view.View;
import android.widget.Button;
import android.widget.LinearLayout;
import android.widget.ProgressBar;
import android.widget.ScrollView;
import android.widget.TextView;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.PhoneStatsJob;
import org.myqasr.demo.core.PteStatsMethods;
import org.myqasr.demo.core.RuntimeCheck;
import org.myqasr.demo.core.Vocab;

/**
 * "Personalize on this phone": runs the statistics program (stats.pte, stats.vocab.json, stats.layers.json in the
 * app's files folder, pushed with adb) on the WAV clips in files/clips/, and writes files/phone.stats, the only
 * thing that leaves the phone (adb pull it, then `myqasr personalize --stats phone.stats` on the host). Compute is
 * disabled while it runs; Cancel stops between decoder steps and writes nothing. The screen is built in code (no
 * layout resource), so it adds no resources to the app; the logic is core/PhoneStatsJob, JUnit-tested.
 */
public class PersonalizeActivity extends Activity {
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private volatile boolean cancel;
    private Button compute;
    private Button stop;
    private ProgressBar progress;
    private TextView status;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        LinearLayout col = new LinearLayout(this);
        col.setOrientation(LinearLayout.VERTICAL);
        compute = new Button(this);
        compute.setText("Compute statistics on this phone");
        stop = new Button(this);
        stop.setText("Cancel");
        stop.setEnabled(false);
        progress = new ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal);
        status = new TextView(this);
        col.addView(compute);
        col.addView(stop);
        col.addView(progress);
        col.addView(status);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(col);
        setContentView(scroll);
        status.setText("Put stats.pte, stats.vocab.json, stats.layers.json in " + files() + " and WAV clips in "
                + new File(files(), "clips") + " (adb push).");
        compute.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                start();
            }
        });
        stop.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                cancel = true;
                stop.setEnabled(false);
            }
        });
    }

    private File files() {
        File f = getExternalFilesDir(null);
        return f != null ? f : getFilesDir();
    }

    private void running(boolean on) {
        compute.setEnabled(!on);
        stop.setEnabled(on);
    }

    private void show(final String text, final int done, final int total) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                status.setText(text);
                progress.setMax(Math.max(total, 1));
                progress.setProgress(done);
            }
        });
    }

    private void start() {
        cancel = false;
        running(true);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String message;
                try {
                    message = compute();
                } catch (AsrException e) {
                    message = e.getMessage();
                }
                final String text = message;
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        status.setText(text);
                        running(false);
                    }
                });
            }
        });
    }

    private String compute() throws AsrException {
        String missing = RuntimeCheck.missingReason(getClassLoader());
        if (missing != null) {
            return missing;
        }
        File dir = files();
        File[] wavs = new File(dir, "clips").listFiles();
        List<File> clips = new ArrayList<File>();
        if (wavs != null) {
            Arrays.sort(wavs);
            for (File f : wavs) {
                if (f.getName().toLowerCase(java.util.Locale.ROOT).endsWith(".wav")) {
                    clips.add(f);
                }
            }
        }
        if (clips.isEmpty()) {
            return "No WAV clips in " + new File(dir, "clips");
        }
        Vocab vocab = Vocab.load(new File(dir, "stats.vocab.json"));
        String layers = PhoneStatsJob.readText(new File(dir, "stats.layers.json"));
        Map<String, Object> provenance = new LinkedHashMap<String, Object>();
        provenance.put("app", "org.myqasr.demo " + BuildConfigInfo.versionName(this));
        provenance.put("runtime", "executorch-android " + RuntimeCheck.EXECUTORCH_VERSION);
        final int total = clips.size();
        PteStatsMethods program = new PteStatsMethods(ExecuTorchModel.open(new File(dir, "stats.pte"), 0));
        try {
            PhoneStatsJob.Result r = PhoneStatsJob.run(program, layers, vocab, clips, new File(dir, "phone.stats"),
                    provenance, new PhoneStatsJob.Listener() {
                        @Override
                        public void clipDone(int done, int n, String clip) {
                            show(done + " of " + n + " clips (" + clip + ")", done, n);
                        }

                        @Override
                        public boolean cancelled() {
                            return cancel;
                        }
                    });
            show("", 0, total);
            return r == null ? "Cancelled: nothing written." : "What leaves the phone: " + r.describe()
                    + "\nPull it: adb pull " + r.file.getAbsolutePath();
        } finally {
            program.close();
        }
    }

    @Override
    protected void onDestroy() {
        cancel = true;
        worker.shutdown();
        super.onDestroy();
    }

    /** The app's version name from the package manager (no generated BuildConfig in the Gradle-free build). */
    static final class BuildConfigInfo {
        private BuildConfigInfo() {
        }

        static String versionName(Activity a) {
            try {
                return a.getPackageManager().getPackageInfo(a.getPackageName(), 0).versionName;
            } catch (android.content.pm.PackageManager.NameNotFoundException e) {
                return "?";
            }
        }
    }
}
