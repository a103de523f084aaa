package org.myqasr.demo;

import android.Manifest;
import android.app.Activity;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.net.Uri;
import android.os.Bundle;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.EditText;
import android.widget.Spinner;
import android.widget.TextView;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.myqasr.demo.core.AsrException;
import org.myqasr.demo.core.AsrRunner;
import org.myqasr.demo.core.AsrRunnerFiles;
import org.myqasr.demo.core.AsrRunnerSession;
import org.myqasr.demo.core.Cancellation;
import org.myqasr.demo.core.DemoSession;
import org.myqasr.demo.core.LoadedModel;
import org.myqasr.demo.core.LongForm;
import org.myqasr.demo.core.MainTasks;
import org.myqasr.demo.core.ModelFiles;
import org.myqasr.demo.core.RuntimeCheck;
import org.myqasr.demo.core.TaskGate;
import org.myqasr.demo.core.WavReader;

/**
 * The demo screen: pick or find a {@code .pte} + {@code .vocab.json} (the generic Module and the Java loop) or an
 * asr-runner export (ExecuTorch's AsrModule, transcript streamed as it is decoded), pick or record WAV clips,
 * transcribe, benchmark. All work runs on one worker thread through {@link DemoSession}; every failure becomes a line
 * in the output, never a crash. One task at a time: while it runs only its stop button works ({@link TaskGate}), and
 * Cancel stops it ({@link Cancellation}; what stops where: {@link MainTasks}).
 */
public class MainActivity extends Activity {
    private static final int REQ_PTE = 1;
    private static final int REQ_VOCAB = 2;
    private static final int REQ_WAV = 3;
    private static final int REQ_MIC = 4;
    private static final int MAX_OUTPUT_CHARS = 40000;

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final TaskGate gate = new TaskGate();
    private final Cancellation cancellation = new Cancellation();
    /** The views each gated button kind stands for (the pickers and the clip list are PICK). */
    private final Map<TaskGate.Button, List<View>> gated =
            new EnumMap<TaskGate.Button, List<View>>(TaskGate.Button.class);
    /** Whether the asr-runner path holds the model: written by the worker thread after each task. */
    private volatile boolean runnerLoaded;
    private final DemoSession session = new DemoSession();
    /** The asr-runner path (AsrModule); at most one of the two sessions holds a model. */
    private final AsrRunnerSession runnerSession = new AsrRunnerSession();
    private AsrRunner.Opener runnerOpener;
    /** The output's text before a streamed transcript began (null when none is streaming). */
    private CharSequence liveBase;
    private final List<File> clips = new ArrayList<File>();
    private LoadedModel.Loader loader;
    private String runtimeProblem;
    /** The chosen model and vocabulary: written by the worker thread, read by the screen. */
    private volatile File pte;
    private volatile File vocab;
    /** Status lines computed on the worker thread after each task (the session is the worker's alone). */
    private volatile String idleStatus = "";
    private WavRecorder recorder;

    private TextView status;
    private TextView output;
    private Spinner clipSpinner;
    private ArrayAdapter<String> clipNames;
    private EditText runs;
    private Button recordButton;
    private Button cancelButton;

    /** A unit of work for the worker thread; its return value is appended to the output. */
    private interface Task {
        String run() throws Exception;
    }

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        setContentView(R.layout.activity_main);
        status = (TextView) findViewById(R.id.status);
        output = (TextView) findViewById(R.id.output);
        runs = (EditText) findViewById(R.id.runs);
        recordButton = (Button) findViewById(R.id.record);
        cancelButton = (Button) findViewById(R.id.cancel);
        clipSpinner = (Spinner) findViewById(R.id.clips);
        clipNames = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item, new ArrayList<String>());
        clipNames.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        clipSpinner.setAdapter(clipNames);
        clipSpinner.setOnItemSelectedListener(new AdapterView.OnItemSelectedListener() {
            @Override
            public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
                describeClip(clips.get(position));
            }

            @Override
            public void onNothingSelected(AdapterView<?> parent) {
            }
        });

        runtimeProblem = RuntimeCheck.missingReason(getClassLoader());
        loader = cancellation.loader(runtimeProblem == null ? ExecuTorchModel.LOADER : new LoadedModel.Loader() {
            @Override
            public LoadedModel load(File file) throws AsrException {
                throw new AsrException(runtimeProblem);
            }
        }); // every decoder step / CTC forward checks the cancel flag first
        runnerOpener = runtimeProblem == null ? ExecuTorchAsrRunner.OPENER : new AsrRunner.Opener() {
            @Override
            public AsrRunner open(AsrRunnerFiles files) throws AsrException {
                throw new AsrException(runtimeProblem);
            }
        };

        click(R.id.pick_model, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                pick(REQ_PTE, "*/*", true); // several: an asr-runner export is four files
            }
        });
        click(R.id.pick_vocab, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                pick(REQ_VOCAB, "*/*", false);
            }
        });
        click(R.id.add_clips, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                pick(REQ_WAV, "audio/*", true);
            }
        });
        click(R.id.record, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                toggleRecording();
            }
        });
        click(R.id.transcribe, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                transcribe(selectedClips(false));
            }
        });
        click(R.id.transcribe_all, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                transcribe(selectedClips(true));
            }
        });
        click(R.id.benchmark, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                benchmark();
            }
        });
        click(R.id.clear, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                liveBase = null;
                output.setText("");
            }
        });
        click(R.id.cancel, new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                cancellation.cancel();
                cancelButton.setEnabled(false);
                showStatus(MainTasks.cancellingNote(gate.running(), runnerLoaded));
            }
        });
        gate(TaskGate.Button.PICK, R.id.pick_model, R.id.pick_vocab, R.id.add_clips, R.id.clips, R.id.runs);
        gate(TaskGate.Button.RECORD, R.id.record);
        gate(TaskGate.Button.COMPUTE, R.id.transcribe, R.id.transcribe_all, R.id.benchmark);
        gate(TaskGate.Button.CLEAR, R.id.clear);
        gate(TaskGate.Button.CANCEL, R.id.cancel);
        refreshButtons();

        idleStatus = statusText(); // nothing is running yet, so reading the session here is safe
        showStatus(null);
        if (runtimeProblem != null) {
            append(runtimeProblem);
        }
        scanFolders();
    }

    private void click(int id, View.OnClickListener l) {
        findViewById(id).setOnClickListener(l);
    }

    private void gate(TaskGate.Button kind, int... ids) {
        List<View> views = new ArrayList<View>();
        for (int id : ids) {
            views.add(findViewById(id));
        }
        gated.put(kind, views);
    }

    /** Enables exactly the views {@link TaskGate} allows now and labels Cancel for the path. Main thread. */
    private void refreshButtons() {
        TaskGate.Task running = gate.running();
        for (Map.Entry<TaskGate.Button, List<View>> e : gated.entrySet()) {
            boolean on = TaskGate.enabled(e.getKey(), running, false);
            for (View v : e.getValue()) {
                v.setEnabled(on);
            }
        }
        cancelButton.setText(MainTasks.cancelLabel(running, runnerLoaded));
    }

    private File modelsDir() {
        return new File(getFilesDir(), "models");
    }

    private File clipsDir() {
        return new File(getFilesDir(), "clips");
    }

    /** Folders searched for models and clips: the adb-reachable app folder first, then picked copies. */
    private List<File> folders() {
        return AsrRunnerFiles.withSubfolders(ModelFiles.dirs(getExternalFilesDir(null), modelsDir(), clipsDir()));
    }

    /** Finds what was pushed with adb or picked before: the newest .pte with its vocabulary, and all clips. */
    private void scanFolders() {
        run("Looking for models and clips", TaskGate.Task.LOADING, new Task() {
            @Override
            public String run() throws Exception {
                List<File> ptes = AsrRunnerFiles.modelCandidates(ModelFiles.list(folders(), ModelFiles.PTE));
                final List<File> wavs = ModelFiles.list(folders(), ModelFiles.WAV);
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        setClips(wavs);
                    }
                });
                File external = getExternalFilesDir(null);
                String where = "Files pushed to " + (external == null ? "(no external storage)" : external.getPath())
                        + " are found at start.";
                if (ptes.isEmpty()) {
                    return "No model yet: pick a .pte and its .vocab.json. " + where;
                }
                pte = ptes.get(0);
                AsrRunnerFiles runnerFiles = AsrRunnerFiles.find(pte);
                if (runnerFiles != null) {
                    vocab = null;
                    return loadRunner(runnerFiles);
                }
                vocab = ModelFiles.vocabFor(pte, ModelFiles.list(folders(), ModelFiles.VOCAB));
                if (vocab == null) {
                    return "Found " + pte.getName() + " but no " + ModelFiles.vocabNameFor(pte.getName())
                            + ": pick its vocabulary. " + where;
                }
                return load();
            }
        });
    }

    /** Runs on the worker thread. */
    private String load() throws AsrException {
        DemoSession.Loaded info = session.load(pte, vocab, loader, cancellation);
        runnerSession.close(); // one path holds a model at a time; a failed load above leaves the other one
        return info.summary();
    }

    /** Runs on the worker thread. */
    private String loadRunner(AsrRunnerFiles files) throws AsrException {
        AsrRunnerSession.Loaded info = runnerSession.load(files, runnerOpener, cancellation);
        session.close();
        return info.summary();
    }

    private void pick(int request, String mime, boolean multiple) {
        Intent i = new Intent(Intent.ACTION_OPEN_DOCUMENT);
        i.addCategory(Intent.CATEGORY_OPENABLE);
        i.setType(mime);
        i.putExtra(Intent.EXTRA_ALLOW_MULTIPLE, multiple);
        try {
            startActivityForResult(i, request);
        } catch (android.content.ActivityNotFoundException e) {
            append("No file picker on this device: push files with adb instead (see README).");
        }
    }

    @Override
    protected void onActivityResult(final int request, int result, Intent data) {
        if (result != RESULT_OK || data == null) {
            return;
        }
        final List<Uri> uris = DocumentPicks.uris(data);
        run("Copying " + uris.size() + " file(s)", TaskGate.Task.COPYING, new Task() {
            @Override
            public String run() throws Exception {
                File dir = request == REQ_WAV ? clipsDir() : modelsDir();
                List<File> copied = new ArrayList<File>();
                for (Uri u : uris) {
                    copied.add(copy(u, dir));
                }
                if (request == REQ_WAV) {
                    final List<File> wavs = ModelFiles.list(folders(), ModelFiles.WAV);
                    runOnUiThread(new Runnable() {
                        @Override
                        public void run() {
                            setClips(wavs);
                        }
                    });
                    StringBuilder b = new StringBuilder();
                    for (File f : copied) {
                        b.append(b.length() == 0 ? "" : "\n").append(clipInfo(f));
                    }
                    return b.toString();
                }
                File f = copied.get(0);
                if (request == REQ_PTE) {
                    File picked = AsrRunnerFiles.pickedModel(copied);
                    pte = picked != null ? picked : pte; // the rest of an asr-runner export may come in a later pick
                    if (pte == null) {
                        return "Copied " + copied.size() + " file(s): now pick the model's .pte.";
                    }
                    AsrRunnerFiles runnerFiles = AsrRunnerFiles.find(pte);
                    if (runnerFiles != null) {
                        vocab = null;
                        return loadRunner(runnerFiles);
                    }
                    File sidecar = ModelFiles.vocabFor(pte, ModelFiles.list(folders(), ModelFiles.VOCAB));
                    if (sidecar != null && sidecar.getName().equals(ModelFiles.vocabNameFor(pte.getName()))) {
                        vocab = sidecar;
                    }
                } else {
                    vocab = f;
                }
                if (vocab == null) {
                    return "Model " + pte.getName() + " copied: now pick its .vocab.json.";
                }
                if (pte == null) {
                    return "Vocabulary " + vocab.getName() + " copied: now pick the .pte.";
                }
                return load();
            }
        });
    }

    /** Copies a picked document into {@code dir} under its display name, via a temporary file; stops at Cancel. */
    private File copy(Uri uri, File dir) throws IOException, AsrException {
        String name = DocumentPicks.displayName(getContentResolver(), uri, "picked").replaceAll("[/\\\\:*?\"<>|]", "_");
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File dest = new File(dir, name);
        File tmp = new File(dir, name + ".part");
        InputStream in = getContentResolver().openInputStream(uri);
        if (in == null) {
            throw new IOException("cannot open " + name);
        }
        OutputStream out = null;
        boolean ok = false;
        try {
            out = new FileOutputStream(tmp);
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                cancellation.check();
                out.write(buf, 0, n);
            }
            out.close();
            out = null;
            ok = tmp.renameTo(dest);
            if (!ok) {
                throw new IOException("cannot rename " + tmp.getName());
            }
        } finally {
            in.close();
            if (out != null) {
                out.close();
            }
            if (!ok) {
                tmp.delete();
            }
        }
        return dest;
    }

    private static String clipInfo(File f) {
        try {
            return f.getName() + ": " + WavReader.read(f, LongForm.MAX_RECORDING_SECONDS).describe();
        } catch (AsrException e) {
            return e.getMessage();
        }
    }

    /** Not a gated task: a header read, queued behind any running task. */
    private void describeClip(final File f) {
        run(null, null, new Task() {
            @Override
            public String run() {
                return clipInfo(f);
            }
        });
    }

    private void setClips(List<File> files) {
        clips.clear();
        clips.addAll(files);
        clipNames.clear();
        for (File f : files) {
            clipNames.add(f.getName());
        }
        clipNames.notifyDataSetChanged();
    }

    private List<File> selectedClips(boolean all) {
        if (all) {
            return new ArrayList<File>(clips);
        }
        List<File> one = new ArrayList<File>();
        int p = clipSpinner.getSelectedItemPosition();
        if (p >= 0 && p < clips.size()) {
            one.add(clips.get(p));
        }
        return one;
    }

    private void transcribe(final List<File> files) {
        if (files.isEmpty()) {
            append("No clip: add WAV clips or record one.");
            return;
        }
        if (runnerSession.isLoaded()) {
            transcribeWithRunner(files);
            return;
        }
        run("Transcribing " + files.size() + " clip(s)", TaskGate.Task.TRANSCRIBING, new Task() {
            @Override
            public String run() throws Exception {
                return session.transcribeAll(files, cancellation);
            }
        });
    }

    /** The asr-runner path: ExecuTorch's loop decodes, each piece it streams updates the output at once. */
    private void transcribeWithRunner(final List<File> files) {
        run("Transcribing " + files.size() + " clip(s) with ExecuTorch's ASR runner", TaskGate.Task.TRANSCRIBING,
                new Task() {
            @Override
            public String run() throws Exception {
                return runnerSession.transcribeAll(files, getCacheDir(), new AsrRunnerSession.Progress() {
                    @Override
                    public void onText(final String shown) {
                        runOnUiThread(new Runnable() {
                            @Override
                            public void run() {
                                showLive(shown);
                            }
                        });
                    }
                }, cancellation);
            }
        });
    }

    private void benchmark() {
        final List<File> one = selectedClips(false);
        if (one.isEmpty()) {
            append("No clip: add WAV clips or record one.");
            return;
        }
        final int n;
        try {
            n = Integer.parseInt(runs.getText().toString().trim());
        } catch (NumberFormatException e) {
            append("N must be a whole number of runs, e.g. 10.");
            return;
        }
        run("Benchmarking " + one.get(0).getName() + " x" + n, TaskGate.Task.BENCHMARKING, new Task() {
            @Override
            public String run() throws Exception {
                if (runnerSession.isLoaded()) {
                    return runnerSession.benchmark(runnerSession.readClip(one.get(0)), getCacheDir(), n,
                            cancellation).describe();
                }
                return session.benchmark(session.readClip(one.get(0)), n, cancellation).describe();
            }
        });
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
            append("Recording needs the microphone permission.");
        }
    }

    private void startRecording() {
        File dir = clipsDir();
        if (!dir.isDirectory() && !dir.mkdirs()) {
            append("Cannot create " + dir);
            return;
        }
        if (!gate.start(TaskGate.Task.RECORDING)) {
            append("Wait for the running task to end, or cancel it.");
            return;
        }
        String name = "rec-" + new SimpleDateFormat("yyyyMMdd-HHmmss", Locale.ROOT).format(new Date()) + ".wav";
        recorder = new WavRecorder(new File(dir, name), new WavRecorder.Listener() {
            @Override
            public void onFinished(final File file, final String error) {
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        recorder = null;
                        recordButton.setText(R.string.record);
                        gate.finish();
                        refreshButtons();
                        showStatus(null);
                        if (error != null) {
                            append(error);
                            return;
                        }
                        setClips(ModelFiles.list(folders(), ModelFiles.WAV));
                        int p = clips.indexOf(file);
                        if (p >= 0) {
                            clipSpinner.setSelection(p);
                        }
                        append("Recorded " + clipInfo(file));
                    }
                });
            }
        });
        try {
            recorder.start();
            recordButton.setText(R.string.stop);
            refreshButtons();
            append("Recording (up to " + (int) (LongForm.MAX_RECORDING_SECONDS / 60) + " min)...");
            showTimer(recorder);
        } catch (AsrException e) {
            recorder = null;
            gate.finish();
            refreshButtons();
            append(e.getMessage());
        }
    }

    /** Shows the recording's length every half second while `rec` is the current recorder. */
    private void showTimer(final WavRecorder rec) {
        recordButton.postDelayed(new Runnable() {
            @Override
            public void run() {
                if (recorder != rec) {
                    return;
                }
                int s = (int) rec.seconds();
                int max = (int) LongForm.MAX_RECORDING_SECONDS;
                showStatus(String.format(Locale.ROOT, "Recording %d:%02d / %d:%02d", s / 60, s % 60, max / 60,
                        max % 60));
                recordButton.postDelayed(this, 500);
            }
        }, 500);
    }

    /**
     * Runs a task on the worker thread as gated task {@code kind} (null: not gated, e.g. a header read); its result
     * or its failure is appended to the output. A gated task does not start while another one runs.
     */
    private void run(final String label, final TaskGate.Task kind, final Task task) {
        if (kind != null) {
            if (!gate.start(kind)) {
                append("Wait for the running task to end, or cancel it.");
                return;
            }
            cancellation.reset();
            refreshButtons();
        }
        if (label != null) {
            showStatus(label + "...");
        }
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String text;
                try {
                    text = task.run();
                } catch (Cancellation.Cancelled e) {
                    text = MainTasks.CANCELLED;
                } catch (AsrException e) {
                    text = "Error: " + e.getMessage();
                } catch (IOException e) {
                    text = "Error: cannot read or copy the file (" + e.getMessage() + ")";
                } catch (OutOfMemoryError e) {
                    text = "Error: out of memory (the model or clip is too large for this phone)";
                } catch (Throwable e) {
                    text = "Unexpected error: " + e;
                }
                final String shown = text;
                idleStatus = statusText();
                runnerLoaded = runnerSession.isLoaded();
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        if (kind != null) {
                            gate.finish();
                            refreshButtons();
                        }
                        showStatus(null);
                        append(shown);
                    }
                });
            }
        });
    }

    private void showStatus(String busy) {
        status.setText(busy == null ? idleStatus : idleStatus + "\n" + busy);
    }

    /** Runs on the worker thread (or before it has work). */
    private String statusText() {
        StringBuilder b = new StringBuilder();
        b.append(runtimeProblem == null ? "ExecuTorch " + RuntimeCheck.EXECUTORCH_VERSION + " runtime: bundled"
                : "ExecuTorch runtime: NOT bundled (CI build)");
        File p = pte;
        File v = vocab;
        b.append("\nModel: ").append(p == null ? "none" : p.getName())
                .append("   Vocabulary: ").append(v == null ? "none" : v.getName());
        DemoSession.Loaded info = session.loaded();
        b.append(info != null ? "\nLoaded (" + info.arch + ")" : p != null && v != null ? "\nNot loaded" : "");
        AsrRunnerSession.Loaded runner = runnerSession.loaded();
        if (runner != null) {
            b.append("\nLoaded (whisper, ExecuTorch ASR runner: ").append(runner.files.data.getName())
                    .append(", ").append(AsrRunnerFiles.PREPROCESSOR).append(", ").append(AsrRunnerFiles.TOKENIZER)
                    .append(")");
        }
        return b.toString();
    }

    /** Shows a transcript that is still growing below the output, replacing the previous partial one. */
    private void showLive(String text) {
        if (liveBase == null) {
            liveBase = output.getText().toString();
        }
        output.setText(liveBase.length() == 0 ? text : liveBase + "\n\n" + text);
    }

    private void append(String text) {
        if (liveBase != null) { // the final text replaces the streamed one
            output.setText(liveBase);
            liveBase = null;
        }
        if (text == null || text.isEmpty()) {
            return;
        }
        CharSequence old = output.getText();
        String joined = old.length() == 0 ? text : old + "\n\n" + text;
        if (joined.length() > MAX_OUTPUT_CHARS) {
            joined = joined.substring(joined.length() - MAX_OUTPUT_CHARS);
        }
        output.setText(joined);
    }

    @Override
    protected void onDestroy() {
        if (recorder != null) {
            recorder.stop();
        }
        worker.execute(new Runnable() {
            @Override
            public void run() {
                session.close();
                runnerSession.close();
            }
        });
        worker.shutdown();
        super.onDestroy();
    }
}
