package org.myqasr.demo;

import android.app.Activity;
import android.content.Intent;
import android.net.Uri;
import android.os.Bundle;
import android.view.View;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.LinearLayout;
import android.widget.ProgressBar;
import android.widget.ScrollView;
import android.widget.Spinner;
import android.widget.TextView;

import java.io.File;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.Cancellation;
import org.myqasr.demo.core.ClipStore;
import org.myqasr.demo.core.CompareJob;
import org.myqasr.demo.core.Comparison;
import org.myqasr.demo.core.LoadedModel;
import org.myqasr.demo.core.ModelFiles;
import org.myqasr.demo.core.RuntimeCheck;
import org.myqasr.demo.core.TaskGate;

/**
 * "Compare": the personalized {@code .pte} (A) and a generic one (B) on the same clips (the personalize screen's
 * clips/ folder), side by side: transcript, latency, RTF per clip and the medians ({@link CompareJob},
 * {@link Comparison}). Models are the {@code .pte} files in the app's folder, each with its {@code .vocab.json};
 * adb can preselect them: {@code am start -n org.myqasr.demo/.CompareActivity --es a me.pte --es b generic.pte}.
 * Compare and Add clips are disabled while a task runs; Cancel stops within one decoder step.
 */
public class CompareActivity extends Activity {
    private static final int REQ_PICK = 1;

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final TaskGate gate = new TaskGate();
    private final Cancellation cancel = new Cancellation();
    private final Map<TaskGate.Button, Button> buttons = new EnumMap<TaskGate.Button, Button>(TaskGate.Button.class);
    private final List<File> models = new ArrayList<File>();
    private ClipStore store;
    private Spinner modelA;
    private Spinner modelB;
    private ProgressBar progress;
    private TextView clipsView;
    private TextView output;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        store = new ClipStore(new File(StatsShareProvider.statsDir(this), "clips"));
        LinearLayout col = new LinearLayout(this);
        col.setOrientation(LinearLayout.VERTICAL);
        col.addView(label("A (personalized):"));
        modelA = new Spinner(this);
        col.addView(modelA);
        col.addView(label("B (generic):"));
        modelB = new Spinner(this);
        col.addView(modelB);
        clipsView = new TextView(this);
        col.addView(clipsView);
        LinearLayout row = new LinearLayout(this);
        row.setOrientation(LinearLayout.HORIZONTAL);
        col.addView(row);
        button(row, TaskGate.Button.PICK, "Add clips", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                if (!DocumentPicks.pickWavs(CompareActivity.this, REQ_PICK)) {
                    output.setText("No file picker on this device: adb push WAV clips to " + store.dir());
                }
            }
        });
        button(row, TaskGate.Button.COMPARE, "Compare", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                compare();
            }
        });
        button(row, TaskGate.Button.CANCEL, "Cancel", new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                cancel.cancel();
                buttons.get(TaskGate.Button.CANCEL).setEnabled(false);
            }
        });
        progress = new ProgressBar(this, null, android.R.attr.progressBarStyleHorizontal);
        col.addView(progress);
        output = new TextView(this);
        output.setTextIsSelectable(true);
        col.addView(output);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(col);
        setContentView(scroll);
        listModels(getIntent());
        showClips();
    }

    private TextView label(String text) {
        TextView t = new TextView(this);
        t.setText(text);
        return t;
    }

    private void button(LinearLayout parent, TaskGate.Button id, String text, View.OnClickListener l) {
        Button b = new Button(this);
        b.setText(text);
        b.setOnClickListener(l);
        parent.addView(b);
        buttons.put(id, b);
    }

    private List<File> folders() {
        return ModelFiles.dirs(StatsShareProvider.statsDir(this), new File(getFilesDir(), "models"));
    }

    /** The .pte files in the app's folders (the statistics program left out); extras a / b preselect by name. */
    private void listModels(Intent intent) {
        models.clear();
        List<String> names = new ArrayList<String>();
        for (File f : ModelFiles.list(folders(), ModelFiles.PTE)) {
            if (!"stats.pte".equals(f.getName())) {
                models.add(f);
                names.add(f.getName());
            }
        }
        for (Spinner s : new Spinner[] {modelA, modelB}) {
            ArrayAdapter<String> a = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item, names);
            a.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
            s.setAdapter(a);
        }
        int a = names.indexOf(intent.getStringExtra("a"));
        int b = names.indexOf(intent.getStringExtra("b"));
        modelA.setSelection(a >= 0 ? a : 0);
        modelB.setSelection(b >= 0 ? b : Math.min(1, Math.max(0, names.size() - 1)));
        if (models.size() < 2) {
            output.setText("Put two .pte files (each with its .vocab.json) in " + StatsShareProvider.statsDir(this)
                    + ": the personalized one and a generic one.");
        }
    }

    private void showClips() {
        clipsView.setText(store.clips().size() + " clip(s) in " + store.dir());
        TaskGate.Task running = gate.running();
        for (Map.Entry<TaskGate.Button, Button> e : buttons.entrySet()) {
            e.getValue().setEnabled(TaskGate.enabled(e.getKey(), running, false));
        }
        modelA.setEnabled(running == TaskGate.Task.NONE);   // the running comparison keeps the models it started with
        modelB.setEnabled(running == TaskGate.Task.NONE);
    }

    private CompareJob.Model selected(Spinner s) throws AsrException {
        int p = s.getSelectedItemPosition();
        if (p < 0 || p >= models.size()) {
            throw new AsrException("Pick two models first.");
        }
        File pte = models.get(p);
        File vocab = ModelFiles.vocabFor(pte, ModelFiles.list(folders(), ModelFiles.VOCAB));
        if (vocab == null) {
            throw new AsrException(pte.getName() + ": no " + ModelFiles.vocabNameFor(pte.getName()) + " next to it");
        }
        return new CompareJob.Model(pte, vocab);
    }

    private void compare() {
        final CompareJob.Model a;
        final CompareJob.Model b;
        try {
            a = selected(modelA);
            b = selected(modelB);
        } catch (AsrException e) {
            output.setText(e.getMessage());
            return;
        }
        final List<File> clips = store.clips();
        start(TaskGate.Task.COMPARING, new Runnable() {
            @Override
            public void run() {
                String text;
                try {
                    String missing = RuntimeCheck.missingReason(getClassLoader());
                    if (missing != null) {
                        throw new AsrException(missing);
                    }
                    LoadedModel.Loader loader = ExecuTorchModel.LOADER;
                    text = CompareJob.run(a, b, clips, loader, cancel, new CompareJob.Progress() {
                        @Override
                        public void update(final int done, final int total, final String what) {
                            runOnUiThread(new Runnable() {
                                @Override
                                public void run() {
                                    progress.setMax(total);
                                    progress.setProgress(done);
                                    output.setText(what);
                                }
                            });
                        }
                    }).format();
                } catch (Cancellation.Cancelled c) {
                    text = "Cancelled.";
                } catch (AsrException e) {
                    text = e.getMessage();
                } catch (OutOfMemoryError e) {
                    text = "Out of memory (a model or clip is too large for this phone).";
                }
                finish(text);
            }
        });
    }

    @Override
    protected void onActivityResult(int request, int result, Intent data) {
        if (request != REQ_PICK || result != RESULT_OK) {
            return;
        }
        final List<Uri> uris = DocumentPicks.uris(data);
        start(TaskGate.Task.COPYING, new Runnable() {
            @Override
            public void run() {
                String text;
                try {
                    text = DocumentPicks.copyAll(getContentResolver(), uris, store, cancel);
                } catch (AsrException e) {
                    text = e.getMessage();
                }
                finish(text);
            }
        });
    }

    private void start(TaskGate.Task t, Runnable work) {
        if (!gate.start(t)) {
            return;
        }
        cancel.reset();
        showClips();
        worker.execute(work);
    }

    /** Worker thread: the task is over; show its text. */
    private void finish(final String text) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                gate.finish();
                progress.setProgress(0);
                output.setText(text);
                showClips();
            }
        });
    }

    @Override
    protected void onDestroy() {
        cancel.cancel();
        worker.shutdown();
        super.onDestroy();
    }
}
