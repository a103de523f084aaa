package org.myqasr.demo;

import android.Manifest;
import android.app.Activity;
import android.content.ClipData;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.net.Uri;
import android.os.Bundle;
import android.view.View;
import android.widget.Button;
import android.widget.LinearLayout;
import android.widget.ProgressBar;
import android.widget.ScrollView;
import android.widget.TextView;

import java.io.File;
import java.util.Date;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.Cancellation;
import org.myqasr.demo.core.ClipStore;
import org.myqasr.demo.core.PhoneStatsJob;
import org.myqasr.demo.core.PteStatsMethods;
import org.myqasr.demo.core.RuntimeCheck;
import org.myqasr.demo.core.ShareSpec;
import org.myqasr.demo.core.StatsFileSummary;
import org.myqasr.demo.core.TaskGate;
import org.myqasr.demo.core.Vocab;

/**
 * "Personalize on this phone": pick WAV clips (the system picker, copied into the app's clips/ folder) or record
 * them, run the statistics program (stats.pte + stats.vocab.json + stats.layers.json, pushed to the app's folder)
 * over them with a progress bar and Cancel, see what the statistics file holds (read back from the file), then
 * share it with the share sheet or pull it with adb (it is written to the app's folder). Only that file leaves the
 * phone. One task at a time; while it runs only its stop button works ({@link TaskGate}). The logic is in core/
 * (ClipStore, PhoneStatsJob, StatsFileSummary, ShareSpec, TaskGate), JUnit-tested; the screen is built in code.
 */
public class PersonalizeActivity extends Activity {
    static final String STATS_FILE = "phone.stats";
    /** Whisper's window: the statistics program takes clips up to 30 s, so a recording stops there. */
    static final double MAX_RECORDING_SECONDS = 30.0;
    private static final int REQ_PICK = 1;
    private static final int REQ_MIC = 2;

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final TaskGate gate = new TaskGate();
    private final Cancellation cancel = new Cancellation();
    private final Map<TaskGate.Button, Button> buttons = new EnumMap<TaskGate.Button, Button>(TaskGate.Button.class);
    private ClipStore store;
    private WavRecorder recorder;
    private volatile StatsFileSummary summary;
    private ProgressBar progress;
    private TextView clipsView;
    private TextView output;

    /** Work for the worker thread; returns the message shown when it ends. */
    private interface Work {
        String run() throws AsrException;
    }

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        store = new ClipStore(new File(StatsShareProvider.statsDir(this), "clips"));
        LinearLayout col = new LinearLayout(this);
        col.setOrientation(LinearLayout.VERTICAL);
        clipsView = new TextView(this);
        col.addView(clipsView);
        LinearLayout row1 = row(col);
        button(row1, TaskGate.Button.PICK, "Add clips", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                if (!DocumentPicks.pickWavs(PersonalizeActivity.this, REQ_PICK)) {
                    say("No file picker on this device: adb push WAV clips to " + store.dir());
                }
            }
        });
        button(row1, TaskGate.Button.RECORD, "Record", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                toggleRecording();
            }
        });
        button(row1, TaskGate.Button.CLEAR, "Delete clips", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                say("Deleted " + store.clear() + " clip(s).");
                showClips();
            }
        });
        LinearLayout row2 = row(col);
        button(row2, TaskGate.Button.COMPUTE, "Compute statistics", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                compute();
            }
        });
        button(row2, TaskGate.Button.CANCEL, "Cancel", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                cancel.cancel();
                buttons.get(TaskGate.Button.CANCEL).setEnabled(false);
            }
        });
        progress = new ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal);
        col.addView(progress);
        LinearLayout row3 = row(col);
        button(row3, TaskGate.Button.SHARE, "Share statistics", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                share();
            }
        });
        button(row3, TaskGate.Button.COMPARE, "Compare models", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                startActivity(new Intent(PersonalizeActivity.this, CompareActivity.class));
            }
        });
        output = new TextView(this);
        output.setTextIsSelectable(true);
        col.addView(output);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(col);
        setContentView(scroll);
        showClips();
        say("Put stats.pte, stats.vocab.json and stats.layers.json (myqasr export-stats) in "
                + StatsShareProvider.statsDir(this) + ", add or record clips, then Compute.");
        run(TaskGate.Task.READING, new Work() {     // an earlier run's file: show what it holds
            @Override
            public String run() {
                return describeStats();
            }
        });
    }

    private LinearLayout row(LinearLayout parent) {
        LinearLayout r = new LinearLayout(this);
        r.setOrientation(LinearLayout.HORIZONTAL);
        parent.addView(r);
        return r;
    }

    private void button(LinearLayout parent, TaskGate.Button id, String label, View.OnClickListener l) {
        Button b = new Button(this);
        b.setText(label);
        b.setOnClickListener(l);
        parent.addView(b);
        buttons.put(id, b);
    }

    private File statsFile() {
        return new File(StatsShareProvider.statsDir(this), STATS_FILE);
    }

    /** Enables exactly the buttons {@link TaskGate} allows now. Main thread. */
    private void refreshButtons() {
        TaskGate.Task running = gate.running();
        for (Map.Entry<TaskGate.Button, Button> e : buttons.entrySet()) {
            e.getValue().setEnabled(TaskGate.enabled(e.getKey(), running, summary != null));
        }
        buttons.get(TaskGate.Button.RECORD).setText(running == TaskGate.Task.RECORDING ? "Stop recording" : "Record");
    }

    private void showClips() {
        List<File> clips = store.clips();
        StringBuilder b = new StringBuilder(clips.size() + " clip(s) in " + store.dir() + ":");
        for (File f : clips) {
            b.append("\n  ").append(f.getName()).append(String.format(Locale.ROOT, " (%d KB)", f.length() / 1024));
        }
        clipsView.setText(b.toString());
        refreshButtons();
    }

    private void say(String text) {
        if (text != null && !text.isEmpty()) {
            CharSequence old = output.getText();
            output.setText(old.length() == 0 ? text : old + "\n\n" + text);
        }
    }

    private void progress(final int done, final int total) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                progress.setMax(Math.max(total, 1));
                progress.setProgress(done);
            }
        });
    }

    /** Runs {@code work} on the worker thread as task {@code t}, if no other task runs. */
    private void run(TaskGate.Task t, final Work work) {
        if (!gate.start(t)) {
            return;
        }
        cancel.reset();
        refreshButtons();
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String text;
                try {
                    text = work.run();
                } catch (AsrException e) {
                    text = e.getMessage();
                } catch (OutOfMemoryError e) {
                    text = "Out of memory (the program or a clip is too large for this phone).";
                } catch (RuntimeException e) {
                    text = "Unexpected error: " + e;
                }
                final String shown = text;
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        gate.finish();
                        progress.setProgress(0);
                        say(shown);
                        showClips();
                    }
                });
            }
        });
    }

    /** Worker thread: the summary of the statistics file, if one exists. */
    private String describeStats() {
        File f = statsFile();
        if (!f.isFile()) {
            summary = null;
            return null;
        }
        try {
            summary = StatsFileSummary.read(f);
            return summary.describe() + "\nShare it, or: adb pull " + f.getAbsolutePath();
        } catch (AsrException e) {
            summary = null;
            return e.getMessage();
        }
    }

    @Override
    protected void onActivityResult(int request, int result, Intent data) {
        if (request != REQ_PICK || result != RESULT_OK) {
            return;
        }
        final List<Uri> uris = DocumentPicks.uris(data);
        run(TaskGate.Task.COPYING, new Work() {
            @Override
            public String run() throws AsrException {
                return DocumentPicks.copyAll(getContentResolver(), uris, store, cancel);
            }
        });
    }

    private void compute() {
        final List<File> clips = store.clips();
        if (clips.isEmpty()) {
            say("No clips: add or record WAV clips first.");
            return;
        }
        run(TaskGate.Task.COMPUTING, new Work() {
            @Override
            public String run() throws AsrException {
                String missing = RuntimeCheck.missingReason(getClassLoader());
                if (missing != null) {
                    return missing;
                }
                File dir = StatsShareProvider.statsDir(PersonalizeActivity.this);
                Vocab vocab = Vocab.load(new File(dir, "stats.vocab.json"));
                String layers = PhoneStatsJob.readText(new File(dir, "stats.layers.json"));
                Map<String, Object> provenance = new LinkedHashMap<String, Object>();
                provenance.put("app", "org.myqasr.demo " + versionName());
                provenance.put("runtime", "executorch-android " + RuntimeCheck.EXECUTORCH_VERSION);
                progress(0, clips.size());
                PteStatsMethods program = new PteStatsMethods(ExecuTorchModel.open(new File(dir, "stats.pte"), 0));
                try {
                    PhoneStatsJob.Result r = PhoneStatsJob.run(program, layers, vocab, clips, statsFile(), provenance,
                            new PhoneStatsJob.Listener() {
                                @Override
                                public void clipDone(int done, int total, String clip) {
                                    progress(done, total);
                                }

                                @Override
                                public boolean cancelled() {
                                    return cancel.isCancelled();
                                }
                            });
                    if (r == null) {
                        return "Cancelled: nothing written.";
                    }
                } finally {
                    program.close();
                }
                return describeStats();
            }
        });
    }

    private String versionName() {
        try {
            return getPackageManager().getPackageInfo(getPackageName(), 0).versionName;
        } catch (PackageManager.NameNotFoundException e) {
            return "?";
        }
    }

    private void share() {
        StatsFileSummary s = summary;
        if (s == null) {
            say("No statistics file yet: Compute first.");
            return;
        }
        ShareSpec spec;
        try {
            spec = ShareSpec.forFile(s);
        } catch (AsrException e) {
            say(e.getMessage());
            return;
        }
        Uri uri = Uri.parse(spec.uri);
        Intent send = new Intent(Intent.ACTION_SEND);
        send.setType(ShareSpec.MIME);
        send.putExtra(Intent.EXTRA_STREAM, uri);
        send.putExtra(Intent.EXTRA_SUBJECT, spec.subject);
        send.putExtra(Intent.EXTRA_TEXT, spec.text);
        send.setClipData(ClipData.newRawUri(spec.subject, uri));   // carries the read grant through the chooser
        send.addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION);
        try {
            startActivity(Intent.createChooser(send, "Share " + s.name));
        } catch (android.content.ActivityNotFoundException e) {
            say("No app to share with: adb pull " + statsFile().getAbsolutePath());
        }
    }

    private void toggleRecording() {
        if (recorder != null) {
            recorder.stop();
            return;
        }
        if (checkSelfPermission(Manifest.permission.RECORD_AUDIO) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(new String[] {Manifest.permission.RECORD_AUDIO}, REQ_MIC);
            return;
        }
        startRecording();
    }

    @Override
    public void onRequestPermissionsResult(int request, String[] permissions, int[] results) {
        if (request != REQ_MIC) {
            return;
        }
        if (results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) {
            startRecording();
        } else {
            say("Recording needs the microphone permission.");
        }
    }

    private void startRecording() {
        if (!store.dir().isDirectory() && !store.dir().mkdirs()) {
            say("Cannot create " + store.dir());
            return;
        }
        if (!gate.start(TaskGate.Task.RECORDING)) {
            return;
        }
        final WavRecorder rec = new WavRecorder(store.recordingFile(new Date()), new WavRecorder.Listener() {
            @Override
            public void onFinished(final File file, final String error) {
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        recorder = null;
                        gate.finish();
                        say(error != null ? error : String.format(Locale.ROOT, "Recorded %s (%d KB)",
                                file.getName(), file.length() / 1024));
                        showClips();
                    }
                });
            }
        });
        try {
            rec.start();
        } catch (AsrException e) {
            gate.finish();
            say(e.getMessage());
            refreshButtons();
            return;
        }
        recorder = rec;
        refreshButtons();
        showTimer(rec);
    }

    /** Shows the recording's length; stops it at {@link #MAX_RECORDING_SECONDS}. */
    private void showTimer(final WavRecorder rec) {
        progress.setMax((int) MAX_RECORDING_SECONDS);
        progress.postDelayed(new Runnable() {
            @Override
            public void run() {
                if (recorder != rec) {
                    return;
                }
                progress.setProgress((int) rec.seconds());
                if (rec.seconds() >= MAX_RECORDING_SECONDS) {
                    rec.stop();
                    return;
                }
                progress.postDelayed(this, 250);
            }
        }, 250);
    }

    @Override
    protected void onDestroy() {
        cancel.cancel();
        if (recorder != null) {
            recorder.stop();
        }
        worker.shutdown();
        super.onDestroy();
    }
}
